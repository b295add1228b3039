import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { ErrorCode } from '../errors.js';
import { cleanResponseHeaders } from './header-hygiene.js';
import type { Forwarder } from './upstream-pools.js';
import { bodyOnSafeMethod } from './body-on-safe-method.js';

/** One request to send upstream: everything already decided and cleaned. */
export interface UpstreamRequest {
  forwarder: Forwarder;
  method: string;
  /** Path and query exactly as checked by policy (plus the upstream's base path). */
  path: string;
  /** Flat [name, value, ...] headers, cleaned and with ours added. */
  headers: string[];
  headersTimeoutMs: number;
  /** Echoed to the client as X-Request-Id. */
  requestId: string;
  /** Our cookie names (see StripSet.cookieBases): upstreams may not set them. */
  ourCookies: ReadonlySet<string>;
}

/** Called once when the exchange ends: the status sent, or the error code when it failed. */
export type ForwardDone = (status: number, failure?: { code: ErrorCode; cause: Error }) => void;

/**
 * Streams one request to the upstream and the response back, with backpressure both ways and
 * no buffering, through the origin's engine (native or undici; same timeouts, same codes).
 */
export function forwardHttp(req: IncomingMessage, res: ServerResponse, up: UpstreamRequest, done: ForwardDone): void {
  const f = up.forwarder;
  if (f.kind === 'native') {
    f.pool.send({
      req,
      res,
      method: up.method,
      path: up.path,
      headers: up.headers,
      headTimeoutMs: up.headersTimeoutMs,
      onResponseHead: (_status, _message, raw) => responseHeaders(raw, up),
      onDone: done,
    });
    return;
  }
  forwardUndici(req, res, f.pool, up, done);
}

/** Response headers as sent to the client: cleaned, our cookies refused, our request id added. */
function responseHeaders(raw: readonly (string | Buffer)[], up: UpstreamRequest): string[] {
  const out = cleanResponseHeaders(raw, up.ourCookies);
  out.push('x-request-id', up.requestId);
  return out;
}

/** The undici engine: its dispatch handler API directly, no stream wrappers on the hot path. */
function forwardUndici(req: IncomingMessage, res: ServerResponse, pool: Dispatcher, up: UpstreamRequest, done: ForwardDone): void {
  const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
  let controller: Dispatcher.DispatchController | undefined;
  let finished = false;
  let failure: ErrorCode | undefined;
  const abort = (code: ErrorCode, message: string) => {
    failure = code;
    if (controller && !controller.aborted) controller.abort(new Error(message));
  };
  // The route timeout covers the wait for a response head once the request is complete, queueing
  // in the pool included (undici's own headersTimeout starts only once the request is on a
  // socket); while a body is uploading, the same timeout applies to the client going idle.
  let headTimer: NodeJS.Timeout | undefined;
  const armHeadTimer = () => {
    if (!finished) headTimer = setTimeout(() => abort('UPSTREAM_TIMEOUT', 'no response head in time'), up.headersTimeoutMs);
  };
  if (!hasBody) armHeadTimer();
  const bodyIdle = hasBody ? idleWatch(req, up.headersTimeoutMs, () => abort('REQUEST_TIMEOUT', 'request body stalled'), armHeadTimer) : undefined;
  const body = bodyIdle ? bodyIdle.body : null;
  const finish = (status: number, err?: { code: ErrorCode; cause: Error }) => {
    if (finished) return;
    finished = true;
    clearTimeout(headTimer);
    bodyIdle?.stop();
    done(status, err);
  };
  res.once('close', () => {
    if (!res.writableFinished) abort('UPSTREAM_UNAVAILABLE', 'client went away');
  });
  pool.dispatch(
    {
      origin: undefined,
      method: up.method,
      path: up.path,
      headers: up.headers,
      body,
      // Close the upstream connection after a GET/HEAD/OPTIONS with a body (see body-on-safe-method).
      reset: bodyOnSafeMethod(req),
      headersTimeout: up.headersTimeoutMs,
    } as Dispatcher.DispatchOptions,
    {
      onRequestStart(c) {
        controller = c;
        if (failure) c.abort(new Error('aborted before start'));
      },
      onResponseStart(_c, statusCode, headers, statusMessage) {
        if (statusCode < 200) return;
        clearTimeout(headTimer);
        // A raw list keeps repeated headers (Set-Cookie) as they came; nothing may be set on `res`
        // with setHeader before this, or Node merges the list by name.
        res.writeHead(statusCode, statusMessage, responseHeaders(flatten(headers), up));
      },
      onResponseData(c, chunk) {
        if (!res.write(chunk)) {
          c.pause();
          res.once('drain', () => c.resume());
        }
      },
      onResponseEnd() {
        res.end();
        finish(res.statusCode);
      },
      onResponseError(_c, err) {
        if (res.headersSent) {
          res.destroy(err);
          finish(res.statusCode, { code: 'UPSTREAM_UNAVAILABLE', cause: err });
          return;
        }
        finish(0, { code: failure ?? (isTimeout(err) ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE'), cause: err });
      },
    },
  );
}

/**
 * The request body as undici reads it, calling `onIdle` when the client sends nothing for `ms`
 * (a stalled upload would otherwise hold an upstream connection forever).
 */
function idleWatch(req: IncomingMessage, ms: number, onIdle: () => void, onComplete: () => void): { body: AsyncIterable<Buffer>; stop(): void } {
  const timer = setTimeout(onIdle, ms);
  async function* body(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of req) {
        timer.refresh();
        yield chunk as Buffer;
      }
      onComplete();
    } finally {
      clearTimeout(timer);
    }
  }
  return { body: body(), stop: () => clearTimeout(timer) };
}

function flatten(headers: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) out.push(name, item);
    else out.push(name, v);
  }
  return out;
}

function isTimeout(err: Error): boolean {
  const code = (err as { code?: string }).code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}
