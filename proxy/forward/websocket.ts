import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { cleanResponseHeaders } from './header-hygiene.js';

/** A websocket upgrade to pass on: target and cleaned headers (with Upgrade/Connection kept). */
export interface UpgradeRequest {
  upstream: URL;
  path: string;
  headers: string[];
  timeoutMs: number;
  /** Our cookie names: an upstream may not set them (see cleanResponseHeaders). */
  ourCookies: ReadonlySet<string>;
}

/**
 * Forwards an HTTP/1.1 upgrade (RFC 9110 7.8) and then splices the two sockets. A non-101
 * answer from the upstream is passed back as a plain response and the socket closed.
 * Calls `done` once with the status that reached the client (0 when the upstream failed).
 */
export function forwardUpgrade(client: Duplex, head: Buffer, up: UpgradeRequest, done: (status: number, err?: Error) => void): void {
  const send = up.upstream.protocol === 'https:' ? httpsRequest : httpRequest;
  const outgoing = send({
    host: up.upstream.hostname,
    port: up.upstream.port || (up.upstream.protocol === 'https:' ? 443 : 80),
    method: 'GET',
    path: up.path,
    headers: up.headers,
    agent: false,
    timeout: up.timeoutMs,
  });
  const fail = (err: Error) => {
    outgoing.destroy();
    done(0, err);
  };
  outgoing.once('timeout', () => fail(Object.assign(new Error('upgrade timed out'), { code: 'UND_ERR_HEADERS_TIMEOUT' })));
  outgoing.once('error', fail);
  // A client gone before the upstream answered must not leave the upstream request open.
  const clientGone = () => outgoing.destroy();
  client.once('close', clientGone).once('error', clientGone);
  outgoing.once('response', (res) => {
    client.off('close', clientGone);
    client.write(statusLine(res) + headerLines(res.rawHeaders, up.ourCookies) + '\r\n');
    res.pipe(client);
    done(res.statusCode ?? 502);
  });
  outgoing.once('upgrade', (res, upstream, upstreamHead) => {
    outgoing.setTimeout(0);
    client.off('close', clientGone);
    if (client.destroyed) {
      upstream.destroy();
      return done(499);
    }
    client.write(statusLine(res) + headerLines(res.rawHeaders, up.ourCookies, true) + '\r\n');
    if (upstreamHead.length) client.write(upstreamHead);
    if (head.length) upstream.write(head);
    splice(client, upstream);
    done(101);
  });
  outgoing.end();
}

function splice(a: Duplex, b: Duplex): void {
  const close = () => {
    a.destroy();
    b.destroy();
  };
  a.once('error', close).once('close', close);
  b.once('error', close).once('close', close);
  a.pipe(b);
  b.pipe(a);
}

function statusLine(res: IncomingMessage): string {
  return `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n`;
}

function headerLines(raw: string[], ourCookies: ReadonlySet<string>, upgrade = false): string {
  const kept = upgrade ? keepUpgrade(raw, ourCookies) : cleanResponseHeaders(raw, ourCookies).concat(['connection', 'close']);
  let out = '';
  for (let i = 0; i < kept.length; i += 2) out += `${kept[i]}: ${kept[i + 1]}\r\n`;
  return out;
}

/** On a 101, Upgrade and Connection are the point; other hop-by-hop headers still go. */
function keepUpgrade(raw: string[], ourCookies: ReadonlySet<string>): string[] {
  const out = cleanResponseHeaders(raw, ourCookies);
  out.push('connection', 'Upgrade');
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'upgrade') out.push('upgrade', raw[i + 1]!);
  return out;
}
