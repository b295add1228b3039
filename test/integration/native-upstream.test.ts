/**
 * The native upstream engine against real sockets on 127.0.0.1: a real node:http upstream (raw
 * net servers where node:http cannot misbehave on purpose), a real node:http front server that
 * calls pool.send as the pipeline will, and node:http or raw net clients.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ERRORS } from '../../proxy/errors.js';
import { buildStripSet, cleanRequestHeaders, cleanResponseHeaders } from '../../proxy/forward/header-hygiene.js';
import { nativeEngineWorks, NativeUpstreamPool, type NativeFailure, type NativeUpstreamPoolOptions } from '../../proxy/forward/native-upstream.js';
import { freePort } from '../helpers/free-port.js';

const MiB = 1024 * 1024;
const STRIP = buildStripSet([], ['gh_session']);
const SMALL = Buffer.from('0123456789'.repeat(10));

// ---- harness ----------------------------------------------------------------------------------

interface Outcome {
  path: string;
  calls: number;
  status: number;
  failure?: NativeFailure;
  res: ServerResponse;
  req: IncomingMessage;
}

interface Front {
  port: number;
  outcomes: Outcome[];
  close(): Promise<void>;
}

/**
 * A front server as the pipeline will use the pool: cleaned headers + ours, the route timeout
 * from `x-timeout` (test-only), the caller's response hook and error response.
 */
async function startFront(pool: NativeUpstreamPool, headersFor?: (req: IncomingMessage) => string[]): Promise<Front> {
  const outcomes: Outcome[] = [];
  const server = createServer((req, res) => {
    const outcome: Outcome = { path: req.url!, calls: 0, status: -1, req, res };
    outcomes.push(outcome);
    const headers = headersFor?.(req) ?? [...cleanRequestHeaders(req.rawHeaders, STRIP), 'host', 'upstream.test', 'x-forwarded-for', '127.0.0.1'];
    pool.send({
      req,
      res,
      method: req.method!,
      path: req.url!,
      headers,
      headTimeoutMs: Number(req.headers['x-timeout'] ?? 5000),
      onResponseHead: (_status, _message, raw) => {
        const out = cleanResponseHeaders(raw, STRIP.cookieBases);
        out.push('x-request-id', 'rid-test');
        return out;
      },
      onDone: (status, failure) => {
        outcome.calls++;
        outcome.status = status;
        outcome.failure = failure;
        if (failure && !res.headersSent) res.writeHead(ERRORS[failure.code].status, ['content-type', 'text/plain']).end(failure.code);
      },
    });
  });
  const port = await listen(server);
  return { port, outcomes, close: () => closeServer(server) };
}

interface Upstream {
  port: number;
  url: URL;
  server: Server;
  sockets: Socket[];
  paths: string[];
  headers: IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function startUpstream(handler: RequestListener, setup?: (s: Server) => void): Promise<Upstream> {
  const sockets: Socket[] = [];
  const paths: string[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url!);
    headers.push(req.headers);
    handler(req, res);
  });
  setup?.(server);
  server.on('connection', (s: Socket) => sockets.push(s));
  const port = await listen(server);
  return { port, url: new URL(`http://127.0.0.1:${port}`), server, sockets, paths, headers, close: () => closeServer(server) };
}

/** A raw TCP upstream for what node:http will not send (bad framing, resets at chosen points). */
async function startRawUpstream(onSocket: (s: Socket, index: number) => void): Promise<{ url: URL; connections: () => number; close(): Promise<void> }> {
  const open = new Set<Socket>();
  let n = 0;
  const server = createNetServer((s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => undefined);
    onSocket(s, n++);
  });
  const port = await listen(server as unknown as Server);
  return {
    url: new URL(`http://127.0.0.1:${port}`),
    connections: () => n,
    close: () => {
      for (const s of open) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  complete: boolean;
}

interface CallOptions {
  method?: string;
  headers?: Record<string, string>;
  /** One Buffer: sent with Content-Length; an array: sent chunked, piece by piece. */
  body?: Buffer | Buffer[];
  onResponse?: (res: IncomingMessage, req: ReturnType<typeof request>) => void;
  onInformation?: () => void;
}

/** One request to the front; resolves when the response ends or is cut (complete = false). */
function call(port: number, path: string, o: CallOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (Buffer.isBuffer(o.body)) headers['content-length'] = String(o.body.length);
    const req = request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      const done = () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(parts), complete: res.complete });
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', done);
      res.on('error', () => undefined);
      res.on('close', done);
      o.onResponse?.(res, req);
    });
    req.on('error', reject);
    if (o.onInformation) req.on('information', o.onInformation);
    if (Array.isArray(o.body)) for (const piece of o.body) req.write(piece);
    else if (o.body) req.write(o.body);
    req.end();
  });
}

/** Waits until `pred` holds (polling), failing after `ms`. */
async function until(pred: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** onDone was called exactly once for every exchange (checked after a pause, to see doubles). */
async function assertDoneOnce(front: Front): Promise<void> {
  await until(() => front.outcomes.every((o) => o.calls > 0), 3000, 'onDone');
  await sleep(20);
  for (const o of front.outcomes) assert.equal(o.calls, 1, `onDone calls for ${o.path}`);
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Child process: a node:http upstream sending 32 MiB, then a client reading it slowly from the front. */
const SLOW_CLIENT_PEER = `
import { createServer, request } from 'node:http';
const MiB = 1024 * 1024;
let drains = 0;
const up = createServer(async (req, res) => {
  const chunk = Buffer.alloc(64 * 1024, 'b');
  res.writeHead(200, { 'content-length': String(32 * MiB) });
  for (let sent = 0; sent < 32 * MiB; sent += chunk.length) {
    if (!res.write(chunk)) { drains++; await new Promise((r) => res.once('drain', r)); }
  }
  res.end();
});
up.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: up.address().port }) + '\\n'));
process.stdin.once('data', (d) => {
  const t0 = Date.now();
  let received = 0;
  request({ host: '127.0.0.1', port: Number(String(d).trim()), path: '/big', agent: false }, (res) => {
    res.on('data', (c) => { received += c.length; res.pause(); setTimeout(() => res.resume(), 2); });
    res.on('end', () => process.stdout.write(JSON.stringify({ received, drains, ms: Date.now() - t0 }) + '\\n', () => process.exit(0)));
  }).end();
});
`;

/** Reads a child's stdout as JSON lines, one `next()` at a time. */
function jsonLines(stream: NodeJS.ReadableStream): { next(): Promise<unknown> } {
  let buf = '';
  const ready: unknown[] = [];
  const waiting: ((v: unknown) => void)[] = [];
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const v: unknown = JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      const w = waiting.shift();
      if (w) w(v);
      else ready.push(v);
    }
  });
  return { next: () => (ready.length > 0 ? Promise.resolve(ready.shift()) : new Promise((resolve) => waiting.push(resolve))) };
}

// ---- the shared upstream ----------------------------------------------------------------------

const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>> = {
  '/small': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': SMALL.length }).end(SMALL);
  },
  '/echo': async (req, res) => {
    const body = await readAll(req);
    const seen = { len: body.length, sha: sha(body), te: req.headers['transfer-encoding'] ?? null, cl: req.headers['content-length'] ?? null };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(seen));
  },
  '/slow-reader': async (req, res) => {
    req.pause();
    await sleep(400);
    const body = await readAll(req);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ len: body.length, sha: sha(body) }));
  },
  '/chunked': async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    for (const piece of ['alpha-', 'beta-', 'gamma']) {
      res.write(piece);
      await sleep(10);
    }
    res.end();
  },
  '/204': (_req, res) => {
    res.writeHead(204, { 'x-kind': 'no-content' }).end();
  },
  '/304': (_req, res) => {
    res.writeHead(304, { 'content-length': '1234', etag: '"v1"' }).end();
  },
  '/head': (_req, res) => {
    res.writeHead(200, { 'content-length': '1000', 'content-type': 'text/plain' }).end();
  },
  '/early': (_req, res) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    res.writeHead(200, { 'content-type': 'text/plain' }).end('after hints');
  },
  '/cookies': (_req, res) => {
    res.writeHead(200, ['set-cookie', 'a=1; Path=/', 'set-cookie', 'gh_session=planted', 'set-cookie', 'b=2', 'set-cookie', 'c=3; HttpOnly', 'content-length', '2']).end('ok');
  },
  '/slow-head': (_req, res) => {
    setTimeout(() => res.end('late'), 1500).unref();
  },
  '/hold': (req, res) => {
    const ms = Number(new URL(req.url!, 'http://x').searchParams.get('ms') ?? 100);
    setTimeout(() => res.end('held'), ms).unref();
  },
  '/drip': (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first');
    const t = setInterval(() => res.write('.'), 20);
    req.socket.once('close', () => clearInterval(t));
  },
  '/reset': (req, res) => {
    res.writeHead(200, { 'content-length': '100000' });
    res.write(Buffer.alloc(1000, 'r'));
    setTimeout(() => req.socket.resetAndDestroy(), 50);
  },
  '/reject-early': (_req, res) => {
    // Kept alive: node:http then reads and drops the body. (With Connection: close the upstream's
    // kernel resets the unread upload and the write fails with EPIPE first: 502, as with undici.)
    res.writeHead(413, { 'content-type': 'text/plain' }).end('too large');
  },
  '/stall-body': (_req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write('0123456789');
  },
};

let upstream: Upstream;
let pool: NativeUpstreamPool;
let front: Front;
const extra: { close(): Promise<void> }[] = [];

before(async () => {
  upstream = await startUpstream((req, res) => {
    const route = routes[new URL(req.url!, 'http://x').pathname];
    // A handler cut short by a test (aborted upload) may reject: that is the point, not a failure.
    if (route) void Promise.resolve(route(req, res)).catch(() => undefined);
    else res.writeHead(404).end();
  });
  pool = new NativeUpstreamPool(upstream.url);
  front = await startFront(pool);
});

after(async () => {
  await front.close();
  await pool.close();
  for (const x of extra) await x.close();
  await upstream.close();
});

/** A pool and front of their own for `target`, closed after all tests. */
async function ownFront(target: URL, opts?: NativeUpstreamPoolOptions, headersFor?: (req: IncomingMessage) => string[]): Promise<{ pool: NativeUpstreamPool; front: Front }> {
  const p = new NativeUpstreamPool(target, opts);
  const f = await startFront(p, headersFor);
  extra.push(f, p);
  return { pool: p, front: f };
}

const lastOutcome = (f: Front) => f.outcomes.at(-1)!;

// ---- the tests --------------------------------------------------------------------------------

describe('native upstream: requests', () => {
  test('GET with a 100-byte body: bytes, our x-request-id, the path and query exactly, Host from the caller', async () => {
    const r = await call(front.port, '/small?a=1&b=%2F..%2F');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, SMALL);
    assert.equal(r.headers['x-request-id'], 'rid-test');
    assert.equal(upstream.paths.at(-1), '/small?a=1&b=%2F..%2F');
    assert.equal(upstream.headers.at(-1)!.host, 'upstream.test');
    assert.equal(upstream.headers.at(-1)!.connection, undefined, 'the client Connection header is not forwarded');
    await assertDoneOnce(front);
    assert.equal(lastOutcome(front).status, 200);
    assert.equal(lastOutcome(front).failure, undefined);
  });

  test('POST with Content-Length: 5 MiB arrive byte-exact, Content-Length kept, no Transfer-Encoding', async () => {
    const body = randomBytes(5 * MiB);
    const r = await call(front.port, '/echo', { method: 'POST', body });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body.toString()), { len: body.length, sha: sha(body), te: null, cl: String(body.length) });
    await assertDoneOnce(front);
  });

  test('a chunked request body is re-framed as chunked, byte-exact, empty writes and all', async () => {
    const pieces = [randomBytes(1), randomBytes(70_000), Buffer.alloc(0), randomBytes(333), randomBytes(1 * MiB + 7)];
    const r = await call(front.port, '/echo', { method: 'POST', body: pieces });
    const all = Buffer.concat(pieces);
    assert.deepEqual(JSON.parse(r.body.toString()), { len: all.length, sha: sha(all), te: 'chunked', cl: null });
    await assertDoneOnce(front);
  });

  test('a header value with CR/LF (or NUL, or a bad name, or CR/LF in the path) is refused and never written upstream', async () => {
    const raw = await startRawUpstream((s) => s.on('data', () => assert.fail('the upstream must not see a byte')));
    extra.push(raw);
    const bad: Record<string, string[]> = {
      crlf: ['host', 'u', 'x-user', 'alice\r\nx-admin: true'],
      lf: ['host', 'u', 'x-user', 'alice\nx-admin: true'],
      nul: ['host', 'u', 'x-user', 'alice\0'],
      name: ['host', 'u', 'x-user: admin\r\nx', 'v'],
      te: ['host', 'u', 'transfer-encoding', 'chunked'],
    };
    const { front: f } = await ownFront(raw.url, undefined, (req) => bad[req.headers['x-case'] as string] ?? []);
    for (const c of Object.keys(bad)) {
      const r = await call(f.port, '/x', { headers: { 'x-case': c } });
      assert.equal(r.status, 502, c);
      assert.equal((lastOutcome(f).failure?.cause as { code?: string }).code, 'INVALID_REQUEST', c);
    }
    // A path with raw CR/LF cannot come from node:http; send one through the pool directly.
    const direct = new NativeUpstreamPool(raw.url);
    extra.push(direct);
    const failure = await new Promise<NativeFailure | undefined>((resolve) => {
      const srv = createServer((req, res) => direct.send({ req, res, method: 'GET', path: '/a\r\nx: y', headers: [], headTimeoutMs: 1000, onResponseHead: () => [], onDone: (_s, f) => (res.end(), resolve(f)) }));
      extra.push({ close: () => closeServer(srv) });
      void listen(srv).then((port) => call(port, '/'));
    });
    assert.equal((failure?.cause as { code?: string }).code, 'INVALID_REQUEST');
    assert.equal(raw.connections(), 0);
    await assertDoneOnce(f);
  });
});

describe('native upstream: responses', () => {
  test('chunked response streams through', async () => {
    const r = await call(front.port, '/chunked');
    assert.equal(r.body.toString(), 'alpha-beta-gamma');
    assert.equal(r.headers['transfer-encoding'], 'chunked');
  });

  test('close-delimited response: the body up to EOF, then a fresh socket for the next one', async () => {
    const raw = await startRawUpstream((s) =>
      s.once('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the upstream closes')),
    );
    extra.push(raw);
    const { front: f } = await ownFront(raw.url);
    for (let i = 0; i < 2; i++) {
      const r = await call(f.port, '/eof');
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'until the upstream closes');
    }
    assert.equal(raw.connections(), 2);
    await assertDoneOnce(f);
    assert.ok(f.outcomes.every((o) => o.failure === undefined && o.status === 200));
  });

  test('204, 304 with Content-Length and HEAD with Content-Length carry no body and leave the socket reusable', async () => {
    const { front: f } = await ownFront(upstream.url, { maxSockets: 1 });
    const before = upstream.sockets.length;
    const r204 = await call(f.port, '/204');
    assert.equal(r204.status, 204);
    assert.equal(r204.headers['x-kind'], 'no-content');
    assert.equal((await call(f.port, '/small')).body.toString(), SMALL.toString());
    const r304 = await call(f.port, '/304');
    assert.equal(r304.status, 304);
    assert.equal(r304.headers.etag, '"v1"');
    assert.equal(r304.body.length, 0);
    assert.equal((await call(f.port, '/small')).body.toString(), SMALL.toString());
    const head = await call(f.port, '/head', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '1000');
    assert.equal(head.body.length, 0);
    assert.equal((await call(f.port, '/small')).body.toString(), SMALL.toString());
    assert.equal(upstream.sockets.length - before, 1, 'one upstream socket carried all six');
    await assertDoneOnce(f);
  });

  test('1xx (103 Early Hints) is not relayed; the final response is', async () => {
    let informational = 0;
    const r = await call(front.port, '/early', { onInformation: () => informational++ });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'after hints');
    assert.equal(informational, 0);
  });

  test('several Set-Cookie stay separate and in order (ours dropped by the caller hook)', async () => {
    const r = await call(front.port, '/cookies');
    assert.deepEqual(r.headers['set-cookie'], ['a=1; Path=/', 'b=2', 'c=3; HttpOnly']);
    const cookies = r.rawHeaders.filter((_, i) => i % 2 === 1 && r.rawHeaders[i - 1]!.toLowerCase() === 'set-cookie');
    assert.deepEqual(cookies, ['a=1; Path=/', 'b=2', 'c=3; HttpOnly']);
    assert.equal(r.headers['x-request-id'], 'rid-test');
  });

  test('a head of 40+ fields split across reads (the parser slow path), and trailers before the next response on the socket: nothing leaks', async () => {
    const raw = await startRawUpstream((s) => {
      let n = 0;
      s.on('data', async () => {
        if (++n === 1) return void s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Trailer\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: leaked\r\n\r\n');
        // Over 32 fields: node's binding hands the head to JS in parts (kOnHeaders), the slow path.
        const many = Array.from({ length: 40 }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
        s.write(`HTTP/1.1 200 OK\r\nX-First: 1\r\nSet-Cookie: a=1\r\n${many.slice(0, 200)}`);
        await sleep(30);
        s.write(`${many.slice(200)}Set-Cookie: b=2\r\nContent-Length: 5\r\n\r\nsplit`);
      });
    });
    extra.push(raw);
    const { front: f } = await ownFront(raw.url, { maxSockets: 1 });
    const first = await call(f.port, '/t');
    assert.equal(first.body.toString(), 'ok');
    const second = await call(f.port, '/s');
    assert.equal(second.body.toString(), 'split');
    assert.equal(second.headers['x-first'], '1');
    const names = second.rawHeaders.filter((_, i) => i % 2 === 0).filter((n) => n.startsWith('X-H'));
    assert.deepEqual(names, Array.from({ length: 40 }, (_, i) => `X-H${i}`));
    assert.deepEqual(second.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(second.headers['x-trailer'], undefined);
    assert.equal(raw.connections(), 1);
    await assertDoneOnce(f);
  });

  test('101 Switching Protocols to a plain request: a failure, nothing forwarded', async () => {
    const raw = await startRawUpstream((s) => s.once('data', () => s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: evil\r\n\r\n')));
    extra.push(raw);
    const { front: f } = await ownFront(raw.url);
    const r = await call(f.port, '/up');
    assert.equal(r.status, 502);
    await assertDoneOnce(f);
    assert.equal((lastOutcome(f).failure?.cause as { code?: string }).code, 'UNEXPECTED_RESPONSE');
  });

  test('two different Content-Length: a failure, nothing forwarded', async () => {
    const raw = await startRawUpstream((s) => s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!')));
    extra.push(raw);
    const { front: f } = await ownFront(raw.url);
    const r = await call(f.port, '/dup');
    assert.equal(r.status, 502);
    assert.equal(r.body.toString(), 'UPSTREAM_UNAVAILABLE');
    await assertDoneOnce(f);
    const o = lastOutcome(f);
    assert.equal(o.status, 0);
    assert.equal(o.failure?.code, 'UPSTREAM_UNAVAILABLE');
    assert.match(String((o.failure?.cause as { code?: string }).code), /^HPE_/);
  });
});

describe('native upstream: backpressure', () => {
  test('a slow-reading client of a 32 MiB response: the proxy does not buffer it (RSS, buffered bytes)', async () => {
    // Upstream and client run in a child process, so this process's RSS is the proxy's alone.
    const peer = spawn(process.execPath, ['--input-type=module', '-e', SLOW_CLIENT_PEER], { stdio: ['pipe', 'pipe', 'inherit'] });
    extra.push({ close: async () => void peer.kill() });
    const lines = jsonLines(peer.stdout);
    const { port: upPort } = (await lines.next()) as { port: number };
    const { front: f } = await ownFront(new URL(`http://127.0.0.1:${upPort}`));
    const rss0 = process.memoryUsage().rss;
    let rssMax = rss0;
    let bufferedMax = 0;
    const sampler = setInterval(() => {
      rssMax = Math.max(rssMax, process.memoryUsage().rss);
      const res = f.outcomes.at(-1)?.res;
      if (res) bufferedMax = Math.max(bufferedMax, res.writableLength);
    }, 10);
    peer.stdin.write(`${f.port}\n`);
    const result = (await lines.next()) as { received: number; drains: number; ms: number };
    clearInterval(sampler);
    assert.equal(result.received, 32 * MiB);
    assert.ok(result.drains > 0, 'the upstream felt the backpressure');
    assert.ok(result.ms > 500, `the client was slow (${result.ms} ms)`);
    assert.ok(bufferedMax < 1 * MiB, `proxy buffered ${bufferedMax} bytes for the client`);
    assert.ok(rssMax - rss0 < 40 * MiB, `RSS grew by ${((rssMax - rss0) / MiB).toFixed(1)} MiB`);
    await assertDoneOnce(f);
    assert.equal(f.outcomes[0]!.status, 200);
  });

  test('a 32 MiB upload to an upstream that does not read yet: the proxy stops reading the client', async () => {
    const body = randomBytes(32 * MiB);
    const rss0 = process.memoryUsage().rss;
    const reply = call(front.port, '/slow-reader', { method: 'POST', body });
    await sleep(300);
    const frontRead = lastOutcome(front).req.socket.bytesRead;
    const rss300 = process.memoryUsage().rss;
    const r = await reply;
    assert.deepEqual(JSON.parse(r.body.toString()), { len: body.length, sha: sha(body) });
    assert.ok(frontRead < 16 * MiB, `the front read ${(frontRead / MiB).toFixed(1)} MiB ahead of an upstream that reads nothing`);
    assert.ok(rss300 - rss0 < 40 * MiB, `RSS grew by ${((rss300 - rss0) / MiB).toFixed(1)} MiB`);
    await assertDoneOnce(front);
  });
});

describe('native upstream: uploads the upstream does not take', () => {
  test('an upstream answering before the body is read: the answer is relayed, the rest of the body discarded', async () => {
    const body = randomBytes(4 * MiB);
    const r = await call(front.port, '/reject-early', { method: 'POST', body }).catch((err: Error) => err);
    assert.ok(!(r instanceof Error), `client error ${String(r)}`);
    assert.equal(r.status, 413);
    assert.equal(r.body.toString(), 'too large');
    await assertDoneOnce(front);
    assert.equal(lastOutcome(front).status, 413);
    assert.equal(lastOutcome(front).failure, undefined);
    assert.equal((await call(front.port, '/small')).status, 200);
  });

  test('an upstream that stops reading the body: UPSTREAM_TIMEOUT (UPLOAD_BLOCKED), not blamed on the client', async () => {
    const body = randomBytes(32 * MiB);
    const r = await call(front.port, '/slow-reader', { method: 'POST', body, headers: { 'x-timeout': '200' } }).catch((err: Error) => err);
    if (!(r instanceof Error)) assert.equal(r.status, 504);
    await assertDoneOnce(front);
    const o = lastOutcome(front);
    assert.equal(o.failure?.code, 'UPSTREAM_TIMEOUT');
    assert.equal((o.failure?.cause as { code?: string }).code, 'UPLOAD_BLOCKED');
  });
});

describe('native upstream: failures', () => {
  test('client disconnect mid-response destroys the upstream socket', async () => {
    const upstreamClosed = new Promise<void>((resolve) => upstream.server.once('request', (req: IncomingMessage) => req.socket.once('close', () => resolve())));
    await call(front.port, '/drip', { onResponse: (res, req) => res.once('data', () => req.destroy()) });
    await upstreamClosed;
    await assertDoneOnce(front);
    const o = lastOutcome(front);
    assert.equal(o.failure?.code, 'UPSTREAM_UNAVAILABLE');
    assert.equal((o.failure?.cause as { code?: string }).code, 'CLIENT_CLOSED');
  });

  test('upstream reset mid-response: the client socket is destroyed, onDone UPSTREAM_UNAVAILABLE', async () => {
    const r = await call(front.port, '/reset');
    assert.equal(r.status, 200);
    assert.equal(r.complete, false);
    assert.ok(r.body.length < 100_000);
    await assertDoneOnce(front);
    const o = lastOutcome(front);
    assert.equal(o.status, 200);
    assert.equal(o.failure?.code, 'UPSTREAM_UNAVAILABLE');
  });

  test('upstream refuses the connection: UPSTREAM_UNAVAILABLE before headers, the caller answers', async () => {
    const { front: f } = await ownFront(new URL(`http://127.0.0.1:${await freePort()}`));
    const r = await call(f.port, '/anything');
    assert.equal(r.status, 502);
    await assertDoneOnce(f);
    const o = lastOutcome(f);
    assert.equal(o.status, 0);
    assert.equal(o.failure?.code, 'UPSTREAM_UNAVAILABLE');
    assert.equal((o.failure?.cause as { code?: string }).code, 'ECONNREFUSED');
  });

  test('upstream slow to answer: UPSTREAM_TIMEOUT after the route timeout, upstream socket closed', async () => {
    const closed = new Promise<void>((resolve) => upstream.server.once('request', (req: IncomingMessage) => req.socket.once('close', () => resolve())));
    const t0 = Date.now();
    const r = await call(front.port, '/slow-head', { headers: { 'x-timeout': '300' } });
    const ms = Date.now() - t0;
    assert.equal(r.status, 504);
    assert.ok(ms >= 290 && ms < 1200, `answered after ${ms} ms`);
    await closed;
    await assertDoneOnce(front);
    assert.equal((lastOutcome(front).failure?.cause as { code?: string }).code, 'HEAD_TIMEOUT');
  });

  test('stalled client upload: REQUEST_TIMEOUT after the route timeout as idle limit', async () => {
    const sock = connect(front.port, '127.0.0.1');
    sock.write('POST /echo HTTP/1.1\r\nHost: x\r\nX-Timeout: 300\r\nContent-Length: 1000\r\n\r\n0123456789');
    const t0 = Date.now();
    let text = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (text += d));
    await until(() => text.includes('\r\n\r\n'), 3000, 'the 408');
    const ms = Date.now() - t0;
    sock.destroy();
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.ok(ms >= 290 && ms < 1200, `answered after ${ms} ms`);
    await assertDoneOnce(front);
    const o = lastOutcome(front);
    assert.equal(o.failure?.code, 'REQUEST_TIMEOUT');
    assert.equal((o.failure?.cause as { code?: string }).code, 'UPLOAD_STALLED');
  });

  test('response body idle past bodyTimeoutMs: the response is cut, UPSTREAM_TIMEOUT', async () => {
    const { front: f } = await ownFront(upstream.url, { bodyTimeoutMs: 300 });
    const t0 = Date.now();
    const r = await call(f.port, '/stall-body');
    const ms = Date.now() - t0;
    assert.equal(r.complete, false);
    assert.equal(r.body.toString(), '0123456789');
    assert.ok(ms >= 290 && ms < 1500, `cut after ${ms} ms`);
    await assertDoneOnce(f);
    assert.equal(lastOutcome(f).failure?.code, 'UPSTREAM_TIMEOUT');
    assert.equal((lastOutcome(f).failure?.cause as { code?: string }).code, 'BODY_TIMEOUT');
  });
});

describe('native upstream: keep-alive and retries', () => {
  test('an idle socket the upstream closed (keepAliveTimeout 1 s, wait 2.5 s): the next GET goes on a fresh socket', async () => {
    const up = await startUpstream((_req, res) => res.end('fresh'), (s) => (s.keepAliveTimeout = 1000));
    extra.push(up);
    const { front: f } = await ownFront(up.url, { idleMs: 10_000 });
    assert.equal((await call(f.port, '/one')).body.toString(), 'fresh');
    const upstreamClosed = new Promise<void>((resolve) => up.sockets[0]!.once('close', () => resolve()));
    // Node 20.20 closes kept-alive sockets at keepAliveTimeout + 1 s (HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER), so 1.5 s is too early.
    await sleep(2500);
    await upstreamClosed;
    const r = await call(f.port, '/two');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'fresh');
    assert.equal(up.sockets.length, 2);
    await assertDoneOnce(f);
    assert.ok(f.outcomes.every((o) => o.failure === undefined));
  });

  test('a kept-alive socket that dies as a request is sent: GET is resent transparently, POST is not', async () => {
    // Each connection answers its first request and drops dead on the second (the keep-alive race).
    const raw = await startRawUpstream((s) => {
      let seen = '';
      s.on('data', (d: Buffer) => {
        seen += d.toString('latin1');
        const requests = seen.split(' HTTP/1.1\r\n').length - 1;
        if (requests === 1 && seen.includes('\r\n\r\n')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        if (requests >= 2) s.destroy();
      });
    });
    extra.push(raw);
    const { front: f } = await ownFront(raw.url, { maxSockets: 1 });
    assert.equal((await call(f.port, '/1')).body.toString(), 'ok');
    const get = await call(f.port, '/2');
    assert.equal(get.status, 200);
    assert.equal(get.body.toString(), 'ok');
    assert.equal(raw.connections(), 2);
    const post = await call(f.port, '/3', { method: 'POST', body: Buffer.from('once only') });
    assert.equal(post.status, 502);
    assert.equal(raw.connections(), 2, 'the POST was not resent');
    await assertDoneOnce(f);
    assert.deepEqual(
      f.outcomes.map((o) => o.failure?.code ?? o.status),
      [200, 200, 'UPSTREAM_UNAVAILABLE'],
    );
  });
});

describe('native upstream: pool', () => {
  test('maxSockets is respected; the rest queue and all complete', async () => {
    let active = 0;
    let peak = 0;
    const up = await startUpstream((_req, res) => {
      peak = Math.max(peak, ++active);
      setTimeout(() => {
        active--;
        res.end('done');
      }, 60);
    });
    extra.push(up);
    const { front: f } = await ownFront(up.url, { maxSockets: 2 });
    const replies = await Promise.all(Array.from({ length: 7 }, (_, i) => call(f.port, `/q${i}`)));
    assert.ok(replies.every((r) => r.status === 200 && r.body.toString() === 'done'));
    assert.equal(peak, 2);
    assert.equal(up.sockets.length, 2);
    await assertDoneOnce(f);
  });

  test('a request queued past its route timeout fails with UPSTREAM_TIMEOUT; the queue goes on', async () => {
    const { front: f } = await ownFront(upstream.url, { maxSockets: 1 });
    const long = call(f.port, '/hold?ms=600');
    await until(() => f.outcomes.length === 1);
    const queued = await call(f.port, '/small', { headers: { 'x-timeout': '200' } });
    assert.equal(queued.status, 504);
    assert.equal((await long).body.toString(), 'held');
    assert.equal((await call(f.port, '/small')).status, 200);
    await assertDoneOnce(f);
    assert.equal((f.outcomes[1]!.failure?.cause as { code?: string }).code, 'QUEUE_TIMEOUT');
  });

  test('a client that leaves while queued leaves the queue; its request never reaches the upstream', async () => {
    const { front: f } = await ownFront(upstream.url, { maxSockets: 1 });
    const long = call(f.port, '/hold?ms=300');
    await until(() => f.outcomes.length === 1);
    const gone = call(f.port, '/small?gone').catch(() => undefined);
    await until(() => f.outcomes.length === 2);
    f.outcomes[1]!.req.socket.destroy(); // the client connection drops while its request is queued
    await gone;
    await long;
    await assertDoneOnce(f);
    assert.equal((f.outcomes[1]!.failure?.cause as { code?: string }).code, 'CLIENT_CLOSED');
    assert.ok(!upstream.paths.includes('/small?gone'));
  });

  test('close() closes idle sockets and refuses new exchanges', async () => {
    const up = await startUpstream((_req, res) => res.end('x'));
    extra.push(up);
    const { pool: p, front: f } = await ownFront(up.url);
    assert.equal((await call(f.port, '/a')).status, 200);
    const sock = up.sockets[0]!;
    const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    await p.close();
    await closed;
    const r = await call(f.port, '/b');
    assert.equal(r.status, 502);
    assert.equal((lastOutcome(f).failure?.cause as { code?: string }).code, 'POOL_CLOSED');
    await assertDoneOnce(f);
  });

  test('sockets idle past idleMs are closed by the pool', async () => {
    const up = await startUpstream((_req, res) => res.end('x'));
    extra.push(up);
    const { front: f } = await ownFront(up.url, { idleMs: 200 });
    assert.equal((await call(f.port, '/a')).status, 200);
    const closed = new Promise<void>((resolve) => up.sockets[0]!.once('close', () => resolve()));
    const t0 = Date.now();
    await closed;
    const ms = Date.now() - t0;
    assert.ok(ms >= 150 && ms < 1000, `closed after ${ms} ms`);
  });

  test('https: origins are refused by the constructor (undici serves them)', () => {
    assert.throws(() => new NativeUpstreamPool(new URL('https://127.0.0.1:1')), TypeError);
  });

  test('nativeEngineWorks() passes on this Node', async () => {
    assert.equal(await nativeEngineWorks(), true);
  });
});

describe('native upstream: cross-user response leaks', () => {
  /** An upstream that answers /a with extra bytes after the message, in the same write. */
  async function poisoningUpstream(extraAfter: (smuggled: string) => string) {
    const smuggled = 'HTTP/1.1 200 OK\r\nContent-Length: 12\r\nSet-Cookie: victim=attacker\r\n\r\nSMUGGLED-FOR';
    return startRawUpstream((s) => {
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        for (let i = buf.indexOf('\r\n\r\n'); i !== -1; i = buf.indexOf('\r\n\r\n')) {
          const path = buf.slice(0, i).split(' ')[1]!;
          buf = buf.slice(i + 4);
          if (path === '/a') setTimeout(() => s.write(extraAfter(smuggled)), 150);
          else {
            const body = `private data of ${path}`;
            setTimeout(() => s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`), 20);
          }
        }
      });
    });
  }

  const cases: [string, string, (smuggled: string) => string][] = [
    ['more bytes than Content-Length', 'GET', (x) => `HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello${x}`],
    ['a body on a HEAD response', 'HEAD', (x) => `HTTP/1.1 200 OK\r\nContent-Length: ${x.length}\r\n\r\n${x}`],
    ['a body on a 204', 'GET', (x) => `HTTP/1.1 204 No Content\r\n\r\n${x}`],
  ];
  for (const [name, method, extra] of cases) {
    test(`response queue poisoning (${name}): users queued behind get their own responses`, async () => {
      const up = await poisoningUpstream(extra);
      try {
        const { front } = await ownFront(up.url, { maxSockets: 1 });
        const a = call(front.port, '/a', { method });
        await sleep(40);
        const b = call(front.port, '/b-victim');
        await sleep(20);
        const c = call(front.port, '/c-user');
        const [rb, rc] = await Promise.all([b, c, a]);
        assert.equal(rb.body.toString(), 'private data of /b-victim');
        assert.equal(rb.headers['set-cookie'], undefined);
        assert.equal(rc.body.toString(), 'private data of /c-user');
      } finally {
        await up.close();
      }
    });
  }

  test('a GET with a body is not followed by another user on the same upstream socket (request smuggling in a body)', async () => {
    const up = await poisoningUpstream((x) => x);
    try {
      const { front } = await ownFront(up.url, { maxSockets: 1 });
      await call(front.port, '/first', { method: 'GET', body: Buffer.from('GET /hidden HTTP/1.1\r\nHost: x\r\n\r\n') });
      await call(front.port, '/second');
      assert.equal(up.connections(), 2, 'the socket that carried a GET body was not reused');
    } finally {
      await up.close();
    }
  });
});
