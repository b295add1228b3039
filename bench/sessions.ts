/**
 * `npm run bench:sessions`: authenticated GET throughput, latency and CPU through Gatehouse with
 * each session store, in one interleaved run: the memory store, Redis with the session cache off
 * (`session.cache.ttl: 0s`: one Redis read per request) and Redis with the cache on (default
 * 5 s), plus the bare upstream. Each Redis variant has a private redis-server of its own, so its
 * CPU and its commands per request (INFO commandstats before and after every run) are its own.
 * Prints a markdown table with ratios to the memory store and to the upstream; the JSON goes to
 * bench/results/. Loopback only; every process started is stopped by its pid (also on Ctrl-C).
 *
 *   npm run bench:sessions -- --rounds 3 --seconds 5
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DIRECT } from './lib/baselines.js';
import { startEchoUpstream } from './lib/echo-upstream.js';
import { startGatehouseProcess, type GatehouseProcess } from './lib/gatehouse-process.js';
import { runProbedRounds, type ProbedReport, type ProbedTarget } from './lib/probed-rounds.js';
import { commandDelta, openRedisProbe, redisSkipReason, startRedis, type RedisProbe } from './lib/redis.js';
import { writeReport } from './lib/report.js';
import { wrkAvailable } from './lib/wrk.js';
import { exitCodeAfter, problemsBefore } from './lib/run-checks.js';
import { withLifecycle } from './lib/lifecycle.js';
import { parseRoundsArgs } from './lib/args.js';

const USAGE = `node --import tsx bench/sessions.ts [options]   (build first: npm run build)
  --rounds N        interleaved rounds, medians reported [3]
  --seconds N       wrk duration per run [5]
  --connections N   wrk -c [50]
  --threads N       wrk -t [2]
  --warmup N        warm-up seconds per target before round 1 [2]
  --body-bytes N    upstream response body size [100]
  --sessions N      signed-in sessions per Gatehouse, sent in turn (many users, not one) [200]
  --out dir         where the JSON goes [bench/results]`;

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const MAIN = fileURLToPath(new URL('../dist/proxy/main.js', import.meta.url));
const MEMORY = 'gatehouse-memory';
const REDIS_NO_CACHE = 'gatehouse-redis-nocache';
const REDIS_CACHE = 'gatehouse-redis-cache5s';

function parse(argv: string[]) {
  const { args, num } = parseRoundsArgs(argv, ['sessions'], { seconds: 5, outDir: RESULTS });
  return { ...args, sessions: num('sessions', 200, 1) };
}

/** Why the session behind `cookie` does not reach the upstream, or undefined when it does. */
async function sessionProblem(url: string, cookie: string): Promise<string | undefined> {
  const res = await fetch(url, { headers: { cookie }, redirect: 'manual', signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  return res.status === 200 ? undefined : `GET with the session answered ${res.status}${res.headers.get('location') ? ` → ${res.headers.get('location')}` : ''}`;
}

const fmt = (v: number | undefined, digits: number) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));

/** The table: medians over rounds, ratios to the memory store and to the bare upstream. */
function formatSessionsMarkdown(report: ProbedReport): string {
  const o = report.options;
  const lines = [
    `wrk -t${o.threads} -c${o.connections} -d${o.seconds}s --latency, ${o.rounds} interleaved rounds (medians), ` +
      `${report.host.cpus} × ${report.host.cpuModel}, Node ${report.host.node}, load ${report.host.loadavgStart[0]?.toFixed(2)} → ${report.host.loadavgEnd[0]?.toFixed(2)}`,
    '',
    '| target | req/s | runs req/s | p50 ms | p99 ms | × memory store | × direct | Gatehouse CPU µs/req | Redis CPU µs/req | Gatehouse + Redis µs/req | Redis cmds/req | non-2xx+errors |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const t of report.targets) {
    const runs = t.runs.map((r) => Math.round(r.requestsPerSec)).join(' / ');
    const both = t.cpuUsPerReq !== undefined && t.sideUsPerReq !== undefined ? t.cpuUsPerReq + t.sideUsPerReq : undefined;
    lines.push(
      `| ${t.name} | ${Math.round(t.requestsPerSec)} | ${runs} | ${fmt(t.p50Ms, 2)} | ${fmt(t.p99Ms, 2)} | ${fmt(t.vsReference, 2)} | ${fmt(t.vsDirect, 2)} | ` +
        `${fmt(t.cpuUsPerReq, 1)}${t.name === DIRECT ? ' (upstream)' : ''} | ${fmt(t.sideUsPerReq, 1)} | ${fmt(both, 1)} | ${fmt(t.perRequest?.total, 4)} | ${t.non2xx + t.errors} |`,
    );
  }
  const detail = report.targets.filter((t) => t.perRequest);
  if (detail.length > 0) {
    lines.push('', 'Redis commands per request by command (median of rounds; INFO commandstats before and after each run):', '');
    for (const t of detail) {
      // Per run as counted too: a rare command (a session touch once a minute) has a median of 0.
      const callsPerRun = (cmd: string) => t.runs.map((r) => Math.round((r.perRequest?.[cmd] ?? 0) * r.requests)).join(' / ');
      const per = Object.entries(t.perRequest!)
        .filter(([k]) => k !== 'total')
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k.toUpperCase()} ${v.toFixed(5)} (calls per run: ${callsPerRun(k)})`);
      lines.push(`- ${t.name}: ${per.join(', ') || 'none'}; requests per run: ${t.runs.map((r) => r.requests).join(' / ')}`);
    }
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  if (o.help) return console.log(USAGE), 0;
  if (!wrkAvailable()) {
    console.error('wrk is not installed (apt-get install wrk): nothing to measure with');
    return 2;
  }
  const noRedis = redisSkipReason();
  if (noRedis) {
    console.error(`${noRedis}: cannot measure the Redis session store`);
    return 2;
  }
  if (!existsSync(MAIN)) {
    console.error(`${MAIN} is missing: run npm run build first (npm run bench:sessions does)`);
    return 2;
  }
  return withLifecycle(async (run) => {
    const started = run.started;
    const upstream = started('upstream', await startEchoUpstream({ bodyBytes: o.bodyBytes }));
    const redisNoCache = started('redis (cache off)', await startRedis());
    const redisCache = started('redis (cache on)', await startRedis());
    const probe = async (port: number) => {
      const p = await openRedisProbe(port);
      started(`probe ${port}`, { stop: () => p.close() });
      return p;
    };
    const probeNoCache = await probe(redisNoCache.port);
    const probeCache = await probe(redisCache.port);
    const redisVersion = await probeNoCache.version();

    const memory = started(MEMORY, await startGatehouseProcess(upstream.url, { sessions: o.sessions }));
    const noCache = started(
      REDIS_NO_CACHE,
      await startGatehouseProcess(upstream.url, { sessions: o.sessions, session: { store: 'redis', cache: { ttl: '0s' }, redis: { url: redisNoCache.url, key_prefix: 'bench-nocache:' } } }),
    );
    const cached = started(REDIS_CACHE, await startGatehouseProcess(upstream.url, { sessions: o.sessions, session: { store: 'redis', redis: { url: redisCache.url, key_prefix: 'bench-cache:' } } }));

    const gatehouses: [string, GatehouseProcess][] = [[MEMORY, memory], [REDIS_NO_CACHE, noCache], [REDIS_CACHE, cached]];
    const verify = async (when: string): Promise<string[]> => {
      const problems: string[] = [];
      for (const [name, gh] of gatehouses) {
        const p = await sessionProblem(`${gh.url}/bench`, gh.cookie).catch((err: Error) => err.message);
        if (p) problems.push(`${name} ${when}: ${p}`);
      }
      // The sessions the Redis variants use must be in their Redis, not in the process.
      for (const [name, p, prefix] of [[REDIS_NO_CACHE, probeNoCache, 'bench-nocache:'], [REDIS_CACHE, probeCache, 'bench-cache:']] as const) {
        const keys = await p.keys(`${prefix}s:*`);
        if (keys.length !== o.sessions) problems.push(`${name} ${when}: ${keys.length} session keys under ${prefix}s:* in its Redis, expected ${o.sessions}`);
      }
      return problems;
    };
    if (problemsBefore(await verify('before the run'))) return 1;

    const report = await runProbedRounds({
      ...o,
      reference: MEMORY,
      upstreamPid: upstream.pid,
      targets: [
        { name: DIRECT, url: upstream.url, pid: upstream.pid },
        { name: MEMORY, url: `${memory.url}/bench`, cookies: memory.cookies, pid: memory.pid },
        redisTarget(REDIS_NO_CACHE, noCache, redisNoCache.pid, probeNoCache),
        redisTarget(REDIS_CACHE, cached, redisCache.pid, probeCache),
      ],
      log: (l) => console.error(l),
      signal: run.signal,
    });
    const full = { ...report, redis: { version: redisVersion, cacheTtl: { [REDIS_NO_CACHE]: '0s', [REDIS_CACHE]: '5s (default)' } } };
    console.log(formatSessionsMarkdown(full));
    console.error(`results: ${writeReport(full, o.outDir, 'sessions')}`);

    // wrk counts 3xx as success: a lost session would be measured as redirects to the login.
    return exitCodeAfter(report.targets, await verify('after the run'), 'its numbers may be of redirects');
  });
}

function redisTarget(name: string, gh: GatehouseProcess, redisPid: number, probe: RedisProbe): ProbedTarget {
  return {
    name,
    url: `${gh.url}/bench`,
    cookies: gh.cookies,
    pid: gh.pid,
    sidePid: redisPid,
    counters: () => probe.commandCalls(),
    delta: commandDelta,
  };
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
