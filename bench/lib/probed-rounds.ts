import { cpus, loadavg } from 'node:os';
import { DIRECT, type BaselineReport, type BenchTarget, type RoundResult, type TargetSummary } from './baselines.js';
import { cpuSeconds, hostBusySeconds, startCpuMeter } from './proc-cpu.js';
import { median, medianDefined } from './stats.js';
import { runWrk } from './wrk.js';

/**
 * The interleaved wrk rounds of `runForwardingBaselines` (same order, warm-up, CPU accounting,
 * medians), for targets that have something beside them worth measuring per request: the CPU of
 * a side process (the Redis behind a Gatehouse) and counters read before and after every run
 * (Redis commands by name). Starts nothing and stops nothing: the caller owns the processes.
 */

/** A target, plus what to read around each of its runs. */
export interface ProbedTarget extends BenchTarget {
  /** Cookie headers sent in turn (many sessions); overrides a cookie in `headers`. */
  cookies?: readonly string[];
  /** A process beside the target (not its child) whose CPU per request is reported apart. */
  sidePid?: number;
  /** Counters read before and after every measured run; the difference per request is reported. */
  counters?: () => Promise<Record<string, number>>;
  /** Turns two counter readings into named differences (default: after - before, per name). */
  delta?: (before: Record<string, number>, after: Record<string, number>) => Record<string, number>;
}

/** One run of one target. */
export interface ProbedRound extends RoundResult {
  /** CPU µs of the side process per completed request. */
  sideUsPerReq?: number;
  /** Counter differences per completed request, by name. */
  perRequest?: Record<string, number>;
}

/** Medians over rounds, with ratios to `direct` and to the reference target. */
export interface ProbedSummary extends TargetSummary {
  runs: ProbedRound[];
  sideUsPerReq?: number;
  /** Median over rounds of each counter per request. */
  perRequest?: Record<string, number>;
  /** requestsPerSec / the reference target's. */
  vsReference?: number;
}

/** The report: the shape of `BaselineReport` (so `writeReport` takes it) with the extras. */
export interface ProbedReport extends BaselineReport {
  reference: string;
  targets: ProbedSummary[];
}

export interface ProbedOptions {
  /** The first is usually `direct` (the upstream, named DIRECT for the × direct ratio). */
  targets: ProbedTarget[];
  /** Name of the target the `vsReference` ratios divide by. */
  reference: string;
  /** Pid of the upstream, for its CPU per request. */
  upstreamPid?: number;
  rounds: number;
  seconds: number;
  connections: number;
  threads: number;
  warmupSeconds: number;
  bodyBytes: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

const plainDelta = (before: Record<string, number>, after: Record<string, number>) =>
  Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));

/** Runs every target once per round (order reversed on even rounds) after a warm-up, and summarizes. */
export async function runProbedRounds(o: ProbedOptions): Promise<ProbedReport> {
  const log = o.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const loadavgStart = loadavg();
  const load = (t: ProbedTarget, seconds: number) => {
    o.signal?.throwIfAborted();
    return runWrk({ url: t.url, seconds, connections: o.connections, threads: o.threads, headers: t.headers, cookies: t.cookies, signal: o.signal });
  };
  if (o.warmupSeconds > 0) for (const t of o.targets) await load(t, o.warmupSeconds);
  const runs = new Map<ProbedTarget, ProbedRound[]>(o.targets.map((t) => [t, []]));
  for (let round = 1; round <= o.rounds; round++) {
    const order = round % 2 === 1 ? o.targets : [...o.targets].reverse();
    for (const t of order) {
      const c0 = t.counters ? await t.counters() : undefined;
      const meter = t.pid !== undefined ? startCpuMeter(t.pid) : undefined;
      const side0 = t.sidePid !== undefined ? cpuSeconds(t.sidePid) : 0;
      const up0 = o.upstreamPid !== undefined ? cpuSeconds(o.upstreamPid) : 0;
      const host0 = hostBusySeconds();
      const t0 = process.hrtime.bigint();
      const w = await load(t, o.seconds);
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = meter?.stop();
      const side1 = t.sidePid !== undefined ? cpuSeconds(t.sidePid) : 0;
      const up1 = o.upstreamPid !== undefined ? cpuSeconds(o.upstreamPid) : 0;
      const host1 = hostBusySeconds();
      const c1 = t.counters ? await t.counters() : undefined;
      const perReq = (s: number) => (w.requests > 0 ? (s * 1e6) / w.requests : undefined);
      const diff = c0 && c1 ? (t.delta ?? plainDelta)(c0, c1) : undefined;
      const r: ProbedRound = {
        ...w,
        round,
        cpuCores: cpu?.cores,
        cpuUsPerReq: cpu ? perReq(cpu.cpuSeconds) : undefined,
        upstreamUsPerReq: o.upstreamPid !== undefined ? perReq(up1 - up0) : undefined,
        hostBusyCores: (host1 - host0) / wall,
        sideUsPerReq: t.sidePid !== undefined ? perReq(side1 - side0) : undefined,
        perRequest: diff && w.requests > 0 ? Object.fromEntries(Object.entries(diff).map(([k, v]) => [k, v / w.requests])) : undefined,
      };
      runs.get(t)!.push(r);
      log(
        `round ${round} ${t.name}: ${Math.round(r.requestsPerSec)} req/s p99 ${r.p99Ms} ms` +
          (r.cpuUsPerReq !== undefined ? ` cpu ${r.cpuUsPerReq.toFixed(1)} µs/req` : '') +
          (r.sideUsPerReq !== undefined ? ` side ${r.sideUsPerReq.toFixed(1)} µs/req` : '') +
          (r.perRequest?.total !== undefined ? ` ${r.perRequest.total.toFixed(4)} cmds/req` : ''),
      );
    }
  }
  return {
    startedAt,
    host: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', loadavgStart, loadavgEnd: loadavg() },
    options: { rounds: o.rounds, seconds: o.seconds, connections: o.connections, threads: o.threads, warmupSeconds: o.warmupSeconds, bodyBytes: o.bodyBytes, nginx: 'off' },
    reference: o.reference,
    targets: summarize(o.targets, runs, o.reference),
  };
}

function summarize(targets: ProbedTarget[], runs: Map<ProbedTarget, ProbedRound[]>, reference: string): ProbedSummary[] {
  const rows = targets.map((t) => {
    const rs = runs.get(t) ?? [];
    const names = [...new Set(rs.flatMap((r) => Object.keys(r.perRequest ?? {})))];
    return {
      name: t.name,
      url: t.url,
      runs: rs,
      requestsPerSec: median(rs.map((r) => r.requestsPerSec)),
      p50Ms: median(rs.map((r) => r.p50Ms)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
      cpuCores: medianDefined(rs.map((r) => r.cpuCores)),
      cpuUsPerReq: medianDefined(rs.map((r) => r.cpuUsPerReq)),
      sideUsPerReq: medianDefined(rs.map((r) => r.sideUsPerReq)),
      perRequest: t.counters ? Object.fromEntries(names.map((n) => [n, medianDefined(rs.map((r) => r.perRequest?.[n] ?? 0)) ?? 0])) : undefined,
      non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
      errors: rs.reduce((a, r) => a + r.errors, 0),
    };
  });
  const direct = rows.find((r) => r.name === DIRECT)?.requestsPerSec ?? Number.NaN;
  const ref = rows.find((r) => r.name === reference)?.requestsPerSec;
  return rows.map((r) => ({ ...r, vsDirect: r.requestsPerSec / direct, vsReference: ref !== undefined ? r.requestsPerSec / ref : undefined }));
}
