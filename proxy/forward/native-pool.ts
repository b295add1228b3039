/**
 * The bounded socket pool behind NativeUpstreamPool: a LIFO free list (warm sockets first), a
 * FIFO wait queue, and one coarse tick per pool for idle eviction and the response body idle
 * limit (no timer per socket or per chunk). Also builds and checks each request head.
 */
import { UpstreamConn, type ConnOwner } from './native-conn.js';
import type { NativeParserClass } from './native-parser.js';
import { abortJob, Job, upstreamError, type BodyMode, type JobOwner } from './native-job.js';
import type { NativeExchange } from './native-upstream.js';

/** Settings after validation; see NativeUpstreamPoolOptions for their meaning. */
export interface PoolSettings {
  host: string;
  port: number;
  /** Sent as Host when the exchange has none. */
  hostHeader: string;
  maxSockets: number;
  idleMs: number;
  connectTimeoutMs: number;
  bodyTimeoutMs: number;
}

export class ConnPool implements ConnOwner, JobOwner {
  clock = 0;
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  private readonly free: UpstreamConn[] = [];
  private readonly waiting: Job[] = [];
  /** Every socket until its 'close' event (close() waits for them). */
  private readonly conns = new Set<UpstreamConn>();
  /** Sockets counted against maxSockets: open or opening, not yet being destroyed. */
  private size = 0;
  private closing = false;
  private readonly closeWaiters: (() => void)[] = [];
  private readonly ticker: NodeJS.Timeout;
  private readonly idleTicks: number;
  private readonly bodyTicks: number;

  constructor(private readonly s: PoolSettings, private readonly P: NativeParserClass) {
    this.host = s.host;
    this.port = s.port;
    this.connectTimeoutMs = s.connectTimeoutMs;
    const tickMs = Math.max(50, Math.min(1000, Math.floor(Math.min(s.idleMs, s.bodyTimeoutMs || Infinity) / 8)));
    this.idleTicks = Math.ceil(s.idleMs / tickMs);
    this.bodyTicks = s.bodyTimeoutMs > 0 ? Math.ceil(s.bodyTimeoutMs / tickMs) : 0;
    this.ticker = setInterval(tick, tickMs, this).unref();
  }

  send(ex: NativeExchange): void {
    if (this.closing) return refuse(ex, upstreamError('POOL_CLOSED', 'the upstream pool is closed'));
    if (ex.res.destroyed) return refuse(ex, upstreamError('CLIENT_CLOSED', 'the client closed the connection'));
    const job = prepare(ex, this, this.s.hostHeader);
    if (job instanceof Error) return refuse(ex, job);
    const c = this.take();
    if (c === undefined) this.waiting.push(job);
    else c.start(job);
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      while (this.free.length > 0) this.free[this.free.length - 1]!.kill();
    }
    return new Promise((resolve) => {
      this.closeWaiters.push(resolve);
      if (this.conns.size === 0) this.allClosed();
    });
  }

  release(c: UpstreamConn): void {
    const job = this.waiting.shift();
    if (job !== undefined) return c.start(job);
    if (this.closing) return c.kill();
    c.idleSince = this.clock;
    c.idle = true;
    this.free.push(c);
  }

  forget(c: UpstreamConn): void {
    this.size--;
    if (c.idle) {
      c.idle = false;
      const i = this.free.lastIndexOf(c);
      if (i >= 0) this.free.splice(i, 1);
    }
    if (this.waiting.length > 0 && this.size < this.s.maxSockets) this.open().start(this.waiting.shift()!);
  }

  closed(c: UpstreamConn): void {
    this.conns.delete(c);
    if (this.closing && this.conns.size === 0) this.allClosed();
  }

  retry(job: Job): void {
    job.phase = 'queued';
    const c = this.take();
    if (c === undefined) this.waiting.unshift(job);
    else c.start(job);
  }

  unqueue(job: Job): void {
    const i = this.waiting.indexOf(job);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  /** Once per tick: close sockets idle too long, cut responses whose upstream went quiet. */
  tick(): void {
    const now = ++this.clock;
    const free = this.free;
    // The free list is LIFO, so the longest idle sit at the bottom.
    while (free.length > 0 && now - free[0]!.idleSince >= this.idleTicks) free[0]!.kill();
    if (this.bodyTicks === 0) return;
    for (const c of this.conns) {
      const job = c.job;
      // Paused for a slow client is not the upstream's fault (as undici's bodyTimeout).
      if (job === null || job.phase !== 'body' || c.paused || now - c.lastRead < this.bodyTicks) continue;
      abortJob(job, 'UPSTREAM_TIMEOUT', upstreamError('BODY_TIMEOUT', 'the upstream stopped sending the response body'));
    }
  }

  private take(): UpstreamConn | undefined {
    const c = this.free.pop();
    if (c !== undefined) {
      c.idle = false;
      return c;
    }
    return this.size < this.s.maxSockets ? this.open() : undefined;
  }

  private open(): UpstreamConn {
    this.size++;
    const c = new UpstreamConn(this, this.P);
    this.conns.add(c);
    return c;
  }

  private allClosed(): void {
    clearInterval(this.ticker);
    for (const resolve of this.closeWaiters.splice(0)) resolve();
  }
}

function tick(pool: ConnPool): void {
  pool.tick();
}

function refuse(ex: NativeExchange, cause: Error): void {
  ex.onDone(0, { code: 'UPSTREAM_UNAVAILABLE', cause });
}

// RFC 9110 5.1 / 5.5: a token for names and the method; values are visible ASCII, SP, HTAB and
// obs-text (node:http's own check). CR, LF or NUL in a value would let it smuggle a header.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const BAD_PATH = /[^\x21-\x7e\x80-\xff]/;
const DIGITS = /^\d+$/;

function invalid(what: string): Error {
  return upstreamError('INVALID_REQUEST', `refused to send an invalid ${what} upstream`);
}

/**
 * Checks the exchange and builds its request head. The body framing follows what is written:
 * the Content-Length in `headers` if any, else `transfer-encoding: chunked` when the client sent
 * a body, else none.
 */
function prepare(ex: NativeExchange, owner: JobOwner, hostHeader: string): Job | Error {
  const { method, path, headers } = ex;
  if (!TOKEN.test(method) || method === 'CONNECT') return invalid('method');
  if (path.length === 0 || BAD_PATH.test(path)) return invalid('path');
  if (headers.length % 2 !== 0) return invalid('header list');
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let hasHost = false;
  let length: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (!TOKEN.test(name) || BAD_VALUE.test(value)) return invalid('header');
    if (name.length === 4 && !hasHost) hasHost = name.toLowerCase() === 'host';
    else if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (length !== undefined || !DIGITS.test(value)) return invalid('Content-Length');
      length = value;
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return invalid('Transfer-Encoding (the pool frames bodies)');
    head += `${name}: ${value}\r\n`;
  }
  if (!hasHost) head += `host: ${hostHeader}\r\n`;
  const body: BodyMode = length !== undefined ? (length === '0' ? 'none' : 'length') : clientSendsBody(ex) ? 'chunked' : 'none';
  if (body === 'chunked') head += 'transfer-encoding: chunked\r\n';
  const retryable = body === 'none' && (method === 'GET' || method === 'HEAD' || method === 'OPTIONS');
  return new Job(ex, owner, `${head}\r\n`, body, retryable);
}

function clientSendsBody(ex: NativeExchange): boolean {
  const h = ex.req.headers;
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
}
