/**
 * Child-process entry of a minimal forwarding front for engine A/B runs:
 * `node --import tsx bench/lib/ab-front-main.ts <native|undici> <upstreamUrl>`. Both engines get
 * the same request work (cleaned headers + ours, response hygiene + x-request-id); only the
 * upstream client differs: NativeUpstreamPool.send, or the production forwardHttp over undici's
 * Pool.dispatch. Prints `{"port":…,"pid":…}` when listening; exits on SIGTERM or stdin end.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildStripSet, cleanRequestHeaders, cleanResponseHeaders } from '../../proxy/forward/header-hygiene.js';
import { forwardHttp } from '../../proxy/forward/http-forward.js';
import { NativeUpstreamPool } from '../../proxy/forward/native-upstream.js';
import { UpstreamPools } from '../../proxy/forward/upstream-pools.js';

const [engine, upstreamUrl] = process.argv.slice(2);
const origin = new URL(upstreamUrl!).origin;
const strip = buildStripSet(['x-forwarded-user'], ['gatehouse_session']);
let n = 0;

function headersFor(req: IncomingMessage, id: string): string[] {
  const h = cleanRequestHeaders(req.rawHeaders, strip);
  h.push('host', '127.0.0.1', 'x-forwarded-for', req.socket.remoteAddress ?? '', 'x-forwarded-proto', 'http', 'x-request-id', id);
  return h;
}

function fail(res: ServerResponse, code: string): void {
  if (!res.headersSent) res.writeHead(code === 'UPSTREAM_TIMEOUT' ? 504 : 502, ['content-length', '0']).end();
}

let handler: (req: IncomingMessage, res: ServerResponse) => void;
let close: () => Promise<void>;
if (engine === 'native') {
  const pool = new NativeUpstreamPool(new URL(origin));
  close = () => pool.close();
  handler = (req, res) => {
    const id = `r${++n}`;
    pool.send({
      req,
      res,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: headersFor(req, id),
      headTimeoutMs: 30_000,
      onResponseHead: (_s, _m, raw) => {
        const out = cleanResponseHeaders(raw, strip.cookieBases);
        out.push('x-request-id', id);
        return out;
      },
      onDone: (_status, failure) => {
        if (failure) fail(res, failure.code);
      },
    });
  };
} else if (engine === 'undici') {
  const pools = new UpstreamPools([origin]);
  close = () => pools.close();
  handler = (req, res) => {
    const id = `r${++n}`;
    forwardHttp(req, res, { pool: pools.get(origin), method: req.method ?? 'GET', path: req.url ?? '/', headers: headersFor(req, id), headersTimeoutMs: 30_000, requestId: id, ourCookies: strip.cookieBases }, (_status, failure) => {
      if (failure) fail(res, failure.code);
    });
  };
} else {
  throw new Error(`engine must be native or undici, not ${engine}`);
}

const server = createServer((req, res) => handler(req, res));
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port, pid: process.pid })}\n`);
});
const quit = () => {
  server.closeAllConnections();
  server.close(() => void close().finally(() => process.exit(0)));
};
process.once('SIGTERM', quit);
process.stdin.on('end', quit);
process.stdin.resume();
