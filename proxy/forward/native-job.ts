/**
 * One exchange in flight through the native pool ("job"), its single timer and the client-side
 * listeners. Listeners are module functions reading the job from a symbol on `req` / `res`, and
 * the timer gets the job as an argument: no closure is made per request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UpstreamConn } from './native-conn.js';
import type { NativeExchange, NativeFailure } from './native-upstream.js';

/**
 * queued: waiting for a socket; upload: piping the client's body; head: waiting for the response
 * head; body: streaming the response; done: onDone was called.
 */
export type JobPhase = 'queued' | 'upload' | 'head' | 'body' | 'done';

/** How the request body is framed upstream: none, the client's Content-Length, or re-chunked. */
export type BodyMode = 'none' | 'length' | 'chunked';

/** What a job needs from its pool. */
export interface JobOwner {
  /** Takes a job out of the wait queue (client gone or timed out while queued). */
  unqueue(job: Job): void;
}

const kJob = Symbol('gatehouse.native-job');
type Tagged = { [kJob]?: Job };

/** One exchange and its state; created by the pool for each `send`. */
export class Job {
  conn: UpstreamConn | null = null;
  phase: JobPhase = 'queued';
  timer: NodeJS.Timeout | undefined = undefined;
  /** Body listeners are on `req` and its end has not been seen. */
  uploading = false;
  /** Reading the client's body is paused until the upstream socket drains. */
  uploadBlocked = false;

  constructor(
    readonly ex: NativeExchange,
    readonly owner: JobOwner,
    readonly head: string,
    readonly body: BodyMode,
    /** Bodyless GET/HEAD/OPTIONS: safe to resend when a reused socket turns out stale. */
    readonly retryable: boolean,
  ) {
    (ex.req as IncomingMessage & Tagged)[kJob] = this;
    (ex.res as ServerResponse & Tagged)[kJob] = this;
    ex.res.on('close', onResponseClose);
    // Route timeout: covers queueing, then (with a body) the upload as an idle limit, then the head.
    if (ex.headTimeoutMs > 0) this.timer = setTimeout(onJobTimeout, ex.headTimeoutMs, this);
  }
}

/** An error with a stable `code` for logs (the cause in NativeFailure). */
export function upstreamError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/** `req` 'data': forwards one piece of the client's body, re-framed when chunked. */
export function onRequestData(this: IncomingMessage, chunk: Buffer): void {
  const job = (this as IncomingMessage & Tagged)[kJob];
  const c = job?.conn;
  if (job === undefined || c == null || !job.uploading || chunk.length === 0) return; // an empty chunk would end a chunked body
  if (job.phase === 'upload') job.timer?.refresh();
  const s = c.socket;
  let ok: boolean;
  if (job.body === 'chunked') {
    s.cork();
    s.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    s.write(chunk);
    ok = s.write(CRLF);
    s.uncork();
  } else {
    ok = s.write(chunk);
  }
  if (!ok) {
    job.uploadBlocked = true;
    this.pause();
  }
}

/** `req` 'end': the client's body is complete; the route timeout now waits for the head. */
export function onRequestEnd(this: IncomingMessage): void {
  const job = (this as IncomingMessage & Tagged)[kJob];
  if (job === undefined || !job.uploading) return;
  stopUpload(job, this);
  if (job.body === 'chunked') job.conn?.socket.write(LAST_CHUNK);
  if (job.phase === 'upload') {
    job.phase = 'head';
    job.timer?.refresh();
  }
}

function stopUpload(job: Job, req: IncomingMessage): void {
  job.uploading = false;
  job.uploadBlocked = false;
  req.off('data', onRequestData);
  req.off('end', onRequestEnd);
}

function onResponseClose(this: ServerResponse): void {
  const job = (this as ServerResponse & Tagged)[kJob];
  if (job === undefined || job.phase === 'done' || this.writableFinished) return;
  abortJob(job, 'UPSTREAM_UNAVAILABLE', upstreamError('CLIENT_CLOSED', 'the client closed the connection'));
}

function onJobTimeout(job: Job): void {
  switch (job.phase) {
    case 'queued':
      return abortJob(job, 'UPSTREAM_TIMEOUT', upstreamError('QUEUE_TIMEOUT', 'no upstream socket free in time'));
    case 'upload':
      // Blocked on the upstream socket: the upstream is not reading, the client is not at fault.
      if (job.uploadBlocked) return abortJob(job, 'UPSTREAM_TIMEOUT', upstreamError('UPLOAD_BLOCKED', 'the upstream stopped reading the request body'));
      return abortJob(job, 'REQUEST_TIMEOUT', upstreamError('UPLOAD_STALLED', 'the client stopped sending the request body'));
    case 'head':
      return abortJob(job, 'UPSTREAM_TIMEOUT', upstreamError('HEAD_TIMEOUT', 'no response head in time'));
    default:
      return; // body idle is checked by the pool's coarse tick
  }
}

/** Ends `job` early: its socket (mid-message, so not reusable) is destroyed, or it leaves the queue. */
export function abortJob(job: Job, code: NativeFailure['code'], cause: Error): void {
  if (job.phase === 'done') return;
  const c = job.conn;
  if (c !== null) {
    c.detach();
    c.kill();
  } else {
    job.owner.unqueue(job);
  }
  failJob(job, code, cause);
}

/** Ends `job` with a failure: a response already started is cut (the client sees a reset). */
export function failJob(job: Job, code: NativeFailure['code'], cause: Error): void {
  const res = job.ex.res;
  const sent = res.headersSent;
  if (sent) res.destroy();
  finishJob(job, sent ? res.statusCode : 0, { code, cause });
}

/** Marks `job` done (once), releases its timer and client listeners, then calls onDone. */
export function finishJob(job: Job, status: number, failure?: NativeFailure): void {
  if (job.phase === 'done') return;
  job.phase = 'done';
  clearTimeout(job.timer);
  if (job.uploading) {
    const req = job.ex.req;
    stopUpload(job, req);
    req.resume(); // discard the rest of a body the upstream no longer wants
  }
  try {
    job.ex.onDone(status, failure);
  } catch (err) {
    // Never throw into llhttp's callback stack, and never take the whole proxy down for one
    // exchange: close this client connection and report the bug as a process warning.
    job.ex.res.destroy();
    process.emitWarning(err instanceof Error ? err : new Error(String(err)), { code: 'GATEHOUSE_NATIVE_CALLBACK' });
  }
}
