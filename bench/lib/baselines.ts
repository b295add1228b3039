import { cpus, loadavg } from 'node:os';
import { startEchoUpstream, type EchoUpstream } from './echo-upstream.js';
import { nginxAvailable, startNginx, type Nginx } from './nginx.js';
import { hostBusySeconds, startCpuMeter, cpuSeconds } from './proc-cpu.js';
import { median, medianDefined } from './stats.js';
import { runWrk, type WrkResult } from './wrk.js';

/** Something to load: a URL, the headers each request carries, and the pid whose CPU to count. */
export interface BenchTarget {
  name: string;
  url: string;
  headers?: Record<string, string>;
  /** Process (and descendants) to charge CPU to; omit to skip CPU accounting. */
  pid?: number;
}

/** Options of {@link runForwardingBaselines}; defaults in brackets. */
export interface BaselineOptions {
  /** Extra targets measured with the baselines (e.g. Gatehouse with a session cookie) [none]. */
  targets?: BenchTarget[];
  /** An upstream already running (the caller stops it); otherwise one is started and stopped [start one]. */
  upstream?: EchoUpstream;
  /** Port for the upstream this function starts [any free port]. */
  upstreamPort?: number;
  /** Response body size of the upstream this function starts [100]. */
  bodyBytes?: number;
  /** nginx baselines: 1 = worker_processes 1, 'auto', 'both', or 'off' [1; skipped if nginx is missing]. */
  nginx?: 1 | 'auto' | 'both' | 'off';
  /** Interleaved rounds; every target runs once per round, order reversed on odd rounds [3]. */
  rounds?: number;
  /** wrk duration per run [8]. */
  seconds?: number;
  /** wrk -c [50]. */
  connections?: number;
  /** wrk -t [2]. */
  threads?: number;
  /** Unrecorded wrk run per target before round 1 (JIT, pools) [2]. */
  warmupSeconds?: number;
  /** Progress lines [silent]. */
  log?: (line: string) => void;
  /** Stops between (and during) runs; everything started is still stopped [none]. */
  signal?: AbortSignal;
}

/** One target in one round. */
export interface RoundResult extends WrkResult {
  round: number;
  /** Target CPU in cores (1.0 = one core busy), when it has a pid. */
  cpuCores?: number;
  /** Target CPU microseconds per completed request. */
  cpuUsPerReq?: number;
  /** Upstream CPU microseconds per completed request (same for every target if all is well). */
  upstreamUsPerReq?: number;
  /** Whole-host busy cores during the run: shows load from outside the benchmark. */
  hostBusyCores: number;
}

/** Medians over rounds, and ratios of median req/s. */
export interface TargetSummary {
  name: string;
  url: string;
  runs: RoundResult[];
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  cpuCores?: number;
  cpuUsPerReq?: number;
  /** requestsPerSec / the nginx baseline's (worker_processes 1 if measured, else auto). */
  vsNginx?: number;
  vsDirect: number;
  /** Summed over rounds. */
  non2xx: number;
  errors: number;
}

/** Everything one call measured, ready to be written as JSON. */
export interface BaselineReport {
  startedAt: string;
  host: { node: string; cpus: number; cpuModel: string; loadavgStart: number[]; loadavgEnd: number[] };
  options: { rounds: number; seconds: number; connections: number; threads: number; warmupSeconds: number; bodyBytes: number | null; nginx: string };
  targets: TargetSummary[];
}

/** Names of the built-in targets. */
export const DIRECT = 'direct';
export const NGINX_W1 = 'nginx';
export const NGINX_AUTO = 'nginx-auto';

/**
 * Starts the echo upstream (unless given) and the nginx baselines, then loads `direct`, the
 * nginx targets and every extra target with wrk, interleaved over rounds, and reports medians
 * with ratios to nginx and to direct. Everything it started is stopped before it returns.
 */
export async function runForwardingBaselines(o: BaselineOptions = {}): Promise<BaselineReport> {
  const opts = { rounds: o.rounds ?? 3, seconds: o.seconds ?? 8, connections: o.connections ?? 50, threads: o.threads ?? 2, warmupSeconds: o.warmupSeconds ?? 2 };
  const log = o.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const loadavgStart = loadavg();
  const stops: (() => Promise<void>)[] = [];
  try {
    const upstream = o.upstream ?? (await startEchoUpstream({ port: o.upstreamPort, bodyBytes: o.bodyBytes }));
    if (!o.upstream) stops.push(() => upstream.stop());
    const targets: BenchTarget[] = [{ name: DIRECT, url: upstream.url, pid: upstream.pid }];
    const nginxMode = o.nginx ?? 1;
    if (nginxMode !== 'off' && nginxAvailable()) {
      for (const [name, workers] of nginxVariants(nginxMode)) {
        const n: Nginx = await startNginx({ upstreamPort: upstream.port, workers });
        stops.push(() => n.stop());
        targets.push({ name, url: n.url, pid: n.pid });
      }
    } else if (nginxMode !== 'off') log('nginx not found: no nginx baseline');
    targets.push(...(o.targets ?? []));
    const runs = await measure(targets, opts, upstream.pid, log, o.signal);
    const summaries = summarize(targets, runs);
    return {
      startedAt,
      host: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', loadavgStart, loadavgEnd: loadavg() },
      options: { ...opts, bodyBytes: o.upstream ? null : (o.bodyBytes ?? 100), nginx: String(nginxMode) },
      targets: summaries,
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  }
}

function nginxVariants(mode: 1 | 'auto' | 'both'): [string, 1 | 'auto'][] {
  if (mode === 'both') return [[NGINX_W1, 1], [NGINX_AUTO, 'auto']];
  return mode === 1 ? [[NGINX_W1, 1]] : [[NGINX_AUTO, 'auto']];
}

type RunOpts = { rounds: number; seconds: number; connections: number; threads: number; warmupSeconds: number };

async function measure(
  targets: BenchTarget[],
  o: RunOpts,
  upstreamPid: number | undefined,
  log: (l: string) => void,
  signal: AbortSignal | undefined,
): Promise<Map<BenchTarget, RoundResult[]>> {
  const runs = new Map<BenchTarget, RoundResult[]>(targets.map((t) => [t, []]));
  const load = (t: BenchTarget, seconds: number) => {
    signal?.throwIfAborted();
    return runWrk({ url: t.url, seconds, connections: o.connections, threads: o.threads, headers: t.headers, signal });
  };
  if (o.warmupSeconds > 0) for (const t of targets) await load(t, o.warmupSeconds);
  for (let round = 1; round <= o.rounds; round++) {
    const order = round % 2 === 1 ? targets : [...targets].reverse();
    for (const t of order) {
      const meter = t.pid !== undefined ? startCpuMeter(t.pid) : undefined;
      const up0 = upstreamPid !== undefined ? cpuSeconds(upstreamPid) : 0;
      const host0 = hostBusySeconds();
      const t0 = process.hrtime.bigint();
      const w = await load(t, o.seconds);
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = meter?.stop();
      const perReq = (s: number) => (w.requests > 0 ? (s * 1e6) / w.requests : undefined);
      const r: RoundResult = {
        ...w,
        round,
        cpuCores: cpu?.cores,
        cpuUsPerReq: cpu ? perReq(cpu.cpuSeconds) : undefined,
        upstreamUsPerReq: upstreamPid !== undefined ? perReq(cpuSeconds(upstreamPid) - up0) : undefined,
        hostBusyCores: (hostBusySeconds() - host0) / wall,
      };
      runs.get(t)!.push(r);
      log(`round ${round} ${t.name}: ${Math.round(r.requestsPerSec)} req/s p99 ${r.p99Ms} ms` + (r.cpuCores !== undefined ? ` cpu ${r.cpuCores.toFixed(2)}` : ''));
    }
  }
  return runs;
}

function summarize(targets: BenchTarget[], runs: Map<BenchTarget, RoundResult[]>): TargetSummary[] {
  const rows = targets.map((t) => {
    const rs = runs.get(t) ?? [];
    return {
      name: t.name,
      url: t.url,
      runs: rs,
      requestsPerSec: median(rs.map((r) => r.requestsPerSec)),
      p50Ms: median(rs.map((r) => r.p50Ms)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
      cpuCores: medianDefined(rs.map((r) => r.cpuCores)),
      cpuUsPerReq: medianDefined(rs.map((r) => r.cpuUsPerReq)),
      non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
      errors: rs.reduce((a, r) => a + r.errors, 0),
    };
  });
  const direct = rows.find((r) => r.name === DIRECT)?.requestsPerSec ?? Number.NaN;
  const nginx = (rows.find((r) => r.name === NGINX_W1) ?? rows.find((r) => r.name === NGINX_AUTO))?.requestsPerSec;
  return rows.map((r) => ({ ...r, vsNginx: nginx !== undefined ? r.requestsPerSec / nginx : undefined, vsDirect: r.requestsPerSec / direct }));
}
