import { symbols } from 'pino';
import { EVENTS, F, type Logger } from './log.js';

/** One access line: what happened to a request. */
export interface AccessRecord {
  requestId: string;
  method: string | undefined;
  host: string | undefined;
  path: string;
  status: number;
  durationMs: number;
  route?: string;
  user?: string;
  code?: string;
  reason?: string;
}

/** One decision record: why a request was allowed or refused. */
export interface DecisionRecord {
  requestId: string;
  route: string;
  user?: string;
  allow: boolean;
  reasons: readonly string[];
  rule?: string;
  /** Why a step-up is needed: the class the session has and the route wants, or its age (s). */
  stepUp?: Readonly<Record<string, unknown>>;
}

interface Sink {
  write(line: string): unknown;
}

/**
 * The two per-request records, written straight into the logger's destination as JSON lines in
 * the logger's own shape (level, time, svc, event, fields, msg). These two run on every request:
 * formatting them directly, and handing them to the destination in one batch per turn of the
 * event loop, costs a fraction of per-line generic serialization (measured with bench/run.ts); every other
 * log line still goes through pino. Strings are escaped with JSON.stringify.
 */
export class RequestLog {
  private readonly sink: Sink;
  private readonly on: boolean;
  private readonly pending: string[] = [];
  private scheduled = false;
  private readonly flushNow = () => this.flush();

  constructor(logger: Logger) {
    this.sink = (logger as unknown as Record<symbol, Sink>)[symbols.streamSym]!;
    this.on = logger.isLevelEnabled('info');
  }

  /** Writes what is pending (also called before the process exits). */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    this.sink.write(this.pending.join(''));
    this.pending.length = 0;
  }

  private push(line: string): void {
    this.pending.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
  }

  access(r: AccessRecord): void {
    if (!this.on) return;
    let line = `${head(EVENTS.access)},"${F.requestId}":${q(r.requestId)},"${F.method}":${q(r.method ?? '')},"${F.host}":${q(r.host ?? '')},"${F.path}":${q(r.path)},"${F.status}":${r.status},"${F.durationMs}":${r.durationMs}`;
    if (r.route !== undefined) line += `,"${F.route}":${q(r.route)}`;
    if (r.user !== undefined) line += `,"${F.user}":${q(r.user)}`;
    if (r.code !== undefined) line += `,"${F.code}":${q(r.code)}`;
    if (r.reason !== undefined) line += `,"${F.reason}":${q(r.reason)}`;
    this.push(`${line},"msg":"access"}\n`);
  }

  decision(r: DecisionRecord): void {
    if (!this.on) return;
    let line = `${head(EVENTS.decision)},"${F.requestId}":${q(r.requestId)},"${F.route}":${q(r.route)}`;
    if (r.user !== undefined) line += `,"${F.user}":${q(r.user)}`;
    line += `,"${F.decision}":"${r.allow ? 'allow' : 'deny'}","${F.reasons}":${JSON.stringify(r.reasons)}`;
    if (r.rule !== undefined) line += `,"rule":${q(r.rule)}`;
    if (r.stepUp !== undefined) line += `,"step_up":${JSON.stringify(r.stepUp)}`;
    this.push(`${line},"msg":"decision"}\n`);
  }
}

function head(event: string): string {
  return `{"level":"info","time":"${new Date().toISOString()}","svc":"gatehouse","${F.event}":"${event}"`;
}

function q(s: string): string {
  return JSON.stringify(s);
}
