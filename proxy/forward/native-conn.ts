/**
 * One kept-alive upstream HTTP/1.1 connection carrying one exchange at a time (no pipelining).
 * Responses are framed by Node's own llhttp parser (native-parser.ts), fed straight from the
 * socket handle with `parser.consume(socket._handle)` as node:http's server does: no 'data'
 * events, no stream machinery on the read side. Backpressure stops and starts reading on
 * `socket._handle` (readStop / readStart), as node:http does for a paused request.
 * Both are Node internals; `nativeEngineWorks()` checks them at startup.
 */
import type { ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { failJob, finishJob, onRequestData, onRequestEnd, upstreamError, type Job } from './native-job.js';
import { newResponseParser, type NativeParser, type NativeParserClass, type ParserSink } from './native-parser.js';
import { bodyOnSafeMethod } from './body-on-safe-method.js';

interface StreamHandle {
  readStart(): number;
  readStop(): number;
}

/** What a connection needs from its pool. */
export interface ConnOwner {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  /** Coarse clock, in pool ticks: idle and body-idle checks compare against it. */
  readonly clock: number;
  /** The exchange ended cleanly and the socket may carry another. */
  release(c: UpstreamConn): void;
  /** The socket is being destroyed: stop counting it, stop offering it. */
  forget(c: UpstreamConn): void;
  /** The socket emitted 'close'. */
  closed(c: UpstreamConn): void;
  /** Resend a bodyless idempotent request that met a stale kept-alive socket. */
  retry(job: Job): void;
}

function onConnectTimeout(c: UpstreamConn): void {
  c.fail(upstreamError('CONNECT_TIMEOUT', 'no TCP connection to the upstream in time'));
}

/** A socket to the upstream plus its parser; carries one {@link Job} at a time. */
export class UpstreamConn implements ParserSink {
  readonly socket: Socket;
  job: Job | null = null;
  /** Header pairs handed over in parts (split head, or trailers), until the head completes. */
  partial: string[] | null = null;
  /** Pool tick when it went idle / when the last response byte came. */
  idleSince = 0;
  lastRead = 0;
  /** On the pool's free list. */
  idle = false;
  dead = false;
  private readonly parser: NativeParser;
  private handle: StreamHandle | null = null;
  private connectTimer: NodeJS.Timeout | undefined;
  /** Carried an exchange before: a failure before any response may be a stale keep-alive. */
  private used = false;
  private started = false;
  private info = false;
  private keepAlive = true;
  /** The client response we wait on to drain; reading from the upstream is stopped meanwhile. */
  private drainOn: ServerResponse | null = null;
  private readonly resumeRead = (): void => this.unpause();

  constructor(private readonly owner: ConnOwner, P: NativeParserClass) {
    this.parser = newResponseParser(P, this);
    const s = (this.socket = connect({ host: owner.host, port: owner.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 }));
    this.connectTimer = setTimeout(onConnectTimeout, owner.connectTimeoutMs, this);
    s.on('connect', () => this.onConnect());
    s.on('end', () => this.onEnd());
    s.on('error', (err) => this.fail(err));
    s.on('close', () => this.onClose());
    s.on('drain', () => this.onDrain());
  }

  /** Sends the request head (and starts piping the body) of `job` on this socket. */
  start(job: Job): void {
    this.job = job;
    job.conn = this;
    this.started = this.info = false;
    this.keepAlive = true;
    this.socket.write(job.head, 'latin1');
    if (job.body === 'none') {
      job.phase = 'head';
      return;
    }
    job.phase = 'upload';
    job.timer?.refresh();
    const req = job.ex.req;
    job.uploading = true;
    req.on('data', onRequestData);
    req.on('end', onRequestEnd);
    if (req.readableEnded) onRequestEnd.call(req);
    else req.resume();
  }

  onHead(status: number, message: string, raw: string[], upgrade: boolean, keepAlive: boolean): number {
    const job = this.job;
    if (this.dead) return 0;
    this.started = true;
    if (job === null || status === 101 || upgrade) {
      this.fail(upstreamError('UNEXPECTED_RESPONSE', job === null ? 'a response with no request outstanding' : 'the upstream switched protocols'));
      return 0;
    }
    if (status < 200) {
      this.info = true; // 1xx (103 Early Hints...): not relayed; 1 = no body follows
      return 1;
    }
    this.keepAlive = keepAlive;
    job.phase = 'body';
    clearTimeout(job.timer);
    this.lastRead = this.owner.clock;
    const ex = job.ex;
    try {
      ex.res.writeHead(status, message, ex.onResponseHead(status, message, raw));
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return 0;
    }
    return ex.method === 'HEAD' ? 1 : 0;
  }

  onBody(chunk: Buffer): void {
    const job = this.job;
    if (job === null || this.dead) return;
    this.lastRead = this.owner.clock;
    const res = job.ex.res;
    if (res.write(chunk) || this.drainOn !== null) return;
    // The client is slower than the upstream: stop reading until it drains (TCP pushes back).
    this.drainOn = res;
    this.handle?.readStop();
    res.on('drain', this.resumeRead);
  }

  onMessageComplete(): void {
    this.partial = null; // trailers, if any, are dropped
    const job = this.job;
    if (job === null || this.dead) return;
    if (this.info) {
      this.info = false;
      return;
    }
    this.detach();
    this.used = true;
    const reusable = this.keepAlive && !job.uploading && !bodyOnSafeMethod(job.ex.req);
    job.ex.res.end();
    finishJob(job, job.ex.res.statusCode);
    if (!reusable) return this.kill();
    // Not now: the parser may still hold bytes of this read past the end of the message (a body
    // on a 204/304/HEAD, more than Content-Length). Handed out at once, the socket would serve
    // them to the next user as their response. One turn later, such bytes have met no job and
    // killed the socket (onHead with nothing outstanding), and a clean socket goes back.
    setImmediate(this.releaseLater);
  }

  private readonly releaseLater = () => {
    if (!this.dead) this.owner.release(this);
  };

  /** The socket failed or closed: the exchange on it (if any) is retried or fails. */
  fail(err: Error | null): void {
    if (this.dead) return;
    const job = this.detach();
    this.kill();
    if (job === null) return;
    if (this.used && !this.started && job.retryable && !job.ex.res.destroyed) return this.owner.retry(job);
    const cause = err ?? upstreamError('UPSTREAM_CLOSED', 'the upstream closed the connection');
    failJob(job, (cause as { code?: unknown }).code === 'CONNECT_TIMEOUT' ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE', cause);
  }

  /** Takes the exchange off this connection (reading resumes if it was stopped for it). */
  detach(): Job | null {
    const job = this.job;
    this.job = null;
    if (job !== null) job.conn = null;
    this.unpause();
    return job;
  }

  /** Destroys the socket; the parser is released once the socket has closed. */
  kill(): void {
    if (this.dead) return;
    this.dead = true;
    clearTimeout(this.connectTimer);
    this.socket.destroy();
    this.owner.forget(this);
  }

  /** Reading is stopped until the client drains. */
  get paused(): boolean {
    return this.drainOn !== null;
  }

  private unpause(): void {
    const res = this.drainOn;
    if (res === null) return;
    res.off('drain', this.resumeRead);
    this.drainOn = null;
    this.lastRead = this.owner.clock;
    if (!this.dead) this.handle?.readStart();
  }

  private onConnect(): void {
    clearTimeout(this.connectTimer);
    const handle = (this.socket as unknown as { _handle: StreamHandle | null })._handle;
    if (this.dead || handle === null) return;
    this.handle = handle;
    this.parser.consume(handle);
  }

  private onEnd(): void {
    if (this.dead) return;
    // EOF ends a close-delimited response (llhttp calls onMessageComplete) or cuts one short.
    const ret = this.parser.finish();
    this.fail(ret instanceof Error ? ret : null);
  }

  private onDrain(): void {
    const job = this.job;
    if (job === null || !job.uploadBlocked) return;
    job.uploadBlocked = false;
    if (job.phase === 'upload') job.timer?.refresh();
    job.ex.req.resume();
  }

  private onClose(): void {
    if (!this.dead) this.onEnd();
    const p = this.parser;
    p.sink = null;
    // Unhook from the stream before freeing the C++ parser (node:http's freeParser does the same).
    if (this.handle !== null) p.unconsume();
    this.handle = null;
    p.close();
    this.owner.closed(this);
  }
}

