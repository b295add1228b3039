/**
 * The one place that touches Node's native HTTP parser: llhttp as node:http uses it
 * (`require('_http_common').HTTPParser`), set up to frame responses for one connection.
 * Its callbacks are called by C++ with `this` = the parser, so they are module functions that
 * forward to the connection: no closure per connection or request.
 */
import { createRequire } from 'node:module';

/** What the parser reports to (the connection that owns it). */
export interface ParserSink {
  /** Header pairs handed over in parts (split head, or trailers) until the head completes. */
  partial: string[] | null;
  /** Returns 0, or 1 when no body follows (HEAD, 1xx). */
  onHead(status: number, message: string, raw: string[], upgrade: boolean, keepAlive: boolean): number;
  /** A copy of the bytes (llhttp's binding copies each body span into a new Buffer). */
  onBody(chunk: Buffer): void;
  onMessageComplete(): void;
  fail(err: Error): void;
}

/** An initialized response parser. */
export interface NativeParser {
  /** Feed straight from a socket handle (its reads go to the parser, not to JS 'data' events). */
  consume(handle: object): void;
  unconsume(): void;
  /** At EOF: completes a close-delimited message, or returns the error for a cut one. */
  finish(): Error | number | undefined;
  /** Frees the C++ parser; unconsume first. */
  close(): void;
  sink: ParserSink | null;
}

interface RawParser extends NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  [slot: number]: unknown;
}

/** The parts of `_http_common.HTTPParser` used here. */
export interface NativeParserClass {
  new (): RawParser;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
}

let parserClass: NativeParserClass | null | undefined;

/** Node's native HTTP parser class, or null when this Node does not have it in the expected shape. */
export function loadHttpParser(): NativeParserClass | null {
  if (parserClass !== undefined) return parserClass;
  parserClass = null;
  try {
    // DEP0199 (documentation-only since Node 24): a runtime deprecation would only print a warning;
    // removal, or --throw-deprecation, lands in the catch and the caller uses undici.
    const P = (createRequire(import.meta.url)('_http_common') as { HTTPParser?: NativeParserClass }).HTTPParser;
    const proto = P?.prototype as Record<string, unknown> | undefined;
    const methods = ['initialize', 'consume', 'unconsume', 'finish', 'close'].every((m) => typeof proto?.[m] === 'function');
    const slots = P && [P.RESPONSE, P.kOnHeaders, P.kOnHeadersComplete, P.kOnBody, P.kOnMessageComplete, P.kOnExecute].every(Number.isInteger);
    if (P && methods && slots) parserClass = P;
  } catch {
    // Not there, or no longer requirable.
  }
  return parserClass;
}

/** A response parser reporting to `sink`. */
export function newResponseParser(P: NativeParserClass, sink: ParserSink): NativeParser {
  const p = new P();
  // No lenient flags: duplicate or conflicting Content-Length, CL with TE, bare LF are errors
  // (response splitting and desync defences), as node:http does without --insecure-http-parser.
  // Max head size 0: node's default (--max-http-header-size, 16 KiB), as undici's.
  p.initialize(P.RESPONSE, {}, 0, 0);
  p.sink = sink;
  p[P.kOnHeaders] = onHeaders;
  p[P.kOnHeadersComplete] = onHeadersComplete;
  p[P.kOnBody] = onBody;
  p[P.kOnMessageComplete] = onMessageComplete;
  p[P.kOnExecute] = onExecute;
  return p;
}

function onHeaders(this: NativeParser, headers: string[]): void {
  const s = this.sink;
  if (s === null) return;
  if (s.partial === null) s.partial = headers;
  else for (const h of headers) s.partial.push(h);
}

function onHeadersComplete(this: NativeParser, _maj: number, _min: number, headers: string[] | undefined, _method: unknown, _url: unknown, status: number, message: string, upgrade: boolean, keepAlive: boolean): number {
  const s = this.sink;
  if (s === null) return 0;
  let raw = headers;
  if (raw === undefined) {
    // llhttp's slow path: the head came in several reads and was handed over in parts.
    raw = s.partial ?? [];
    s.partial = null;
  }
  return s.onHead(status, message, raw, upgrade, keepAlive);
}

function onBody(this: NativeParser, chunk: Buffer): void {
  this.sink?.onBody(chunk);
}

function onMessageComplete(this: NativeParser): void {
  this.sink?.onMessageComplete();
}

/** After each read: the bytes parsed, or the parse error (HPE_* code) that stopped it. */
function onExecute(this: NativeParser, ret: number | Error): void {
  if (ret instanceof Error) this.sink?.fail(ret);
}
