/**
 * Route match plus decision at 10, 1 000 and 10 000 routes: the host map + path trie
 * (RouteTable) against a naive linear scan of every route (lib/linear-route-scan.ts), in the
 * same run, on the same deterministic route sets and request mix. Routes go through the real
 * schema (policyFileSchema.parse) and compileRoutes, as at startup. Two request mixes: one
 * spread over every route of the set (each request likely touches memory no recent request
 * did), and the requests of the 10-route set replayed against every set (the first 10 routes
 * of every set are the same): the lookup's own cost. Prints markdown tables; the JSON goes to
 * bench/results/.
 *
 *   node --import tsx bench/routes.ts [--sizes 10,1000,10000] [--rounds 3] [--seconds 2] [--seed 7]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { policyFileSchema } from '../proxy/config/policy-schema.js';
import { compileRoutes } from '../proxy/policy/compile.js';
import { evaluate } from '../proxy/policy/evaluate.js';
import { RouteTable, type RouteMatch } from '../proxy/policy/route-table.js';
import type { Identity } from '../proxy/policy/types.js';
import { combineRounds, summarizeBatches, type LatencySummary } from './lib/latency.js';
import { hostBusySeconds } from './lib/proc-cpu.js';
import { LinearRouteScan } from './lib/linear-route-scan.js';
import { rng } from '../test/helpers/prng.js';
import { IDENTITY_GROUPS, generateRequests, generateRoutes, type BenchRequest, type RouteInput } from './lib/route-gen.js';

const USAGE = `node --import tsx bench/routes.ts [options]
  --sizes a,b,c   route counts [10,1000,10000]
  --rounds N      interleaved rounds, medians reported [3]
  --seconds N     measuring time per matcher, size and round (10-route requests get half, classes a quarter) [2]
  --seed N        PRNG seed of routes and requests [7]
  --out dir       where the JSON goes [bench/results]`;

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const OPS_PER_BATCH = 1000;
/** Requests in the measured mix (a power of two: the loop indexes with a mask). */
const MIX = 4096;

interface Matcher {
  match(host: string, path: string, method: string): RouteMatch | undefined;
}

/** Anonymous first, then one identity per group set of the generator. */
const IDENTITIES: ReadonlyArray<Identity | undefined> = [
  undefined,
  ...IDENTITY_GROUPS.map((groups, i) => ({ user: `u${i}`, email: `u${i}@example.com`, groups, connection: 'okta' })),
];

type Outcome = 'allow' | 'deny-rule' | 'refused' | 'method-not-allowed' | 'no-route';

/** One request decided as serve does after parsing: route lookup, then the route's rules. */
function decide(m: Matcher, r: BenchRequest): Outcome {
  const hit = m.match(r.host, r.path, r.method);
  if (!hit) return 'no-route';
  if (!('route' in hit)) return 'method-not-allowed';
  const d = evaluate(hit.route, IDENTITIES[r.who + 1], { method: r.method, path: r.path, clientIp: r.clientIp });
  return d.allow ? 'allow' : d.reasons[0] === 'denied-by-rule' ? 'deny-rule' : 'refused';
}

/** Times batches of `decide` over `requests` (cycled) for about `seconds`, after a warm-up. */
/** The route lookup alone, for the share of the decision in the total. */
function matchOnly(m: Matcher, r: BenchRequest): Outcome {
  const hit = m.match(r.host, r.path, r.method);
  return !hit ? 'no-route' : 'route' in hit ? 'allow' : 'method-not-allowed';
}

function measure(m: Matcher, requests: readonly BenchRequest[], seconds: number, minBatches: number, op = decide): LatencySummary {
  const mask = requests.length - 1;
  let i = 0;
  let sink = 0;
  const batch = () => {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < OPS_PER_BATCH; k++) {
      sink += op(m, requests[i]!).length;
      i = (i + 1) & mask;
    }
    return Number(process.hrtime.bigint() - t0);
  };
  const warmUntil = performance.now() + Math.min(500, seconds * 250);
  while (performance.now() < warmUntil) batch();
  const times: number[] = [];
  const until = performance.now() + seconds * 1000;
  while ((performance.now() < until || times.length < minBatches) && times.length < 100_000) times.push(batch());
  if (sink === 0) throw new Error('nothing decided');
  return summarizeBatches(times, OPS_PER_BATCH);
}

/** `xs` repeated to exactly `n` entries. */
const tile = <T>(xs: readonly T[], n: number): T[] => Array.from({ length: n }, (_v, k) => xs[k % xs.length]!);

function gcFunction(): () => void {
  if (typeof globalThis.gc === 'function') return globalThis.gc as () => void;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** One route set, compiled and checked, with its request mixes: measured in every round. */
interface Prepared {
  routes: number;
  hosts: number;
  compileMs: { parse: number; compile: number; table: number };
  heapOfTableMb: number;
  table: RouteTable;
  linear: LinearRouteScan;
  requests: BenchRequest[];
  /** The requests of the 10-route set (the first 10 routes of every set are the same). */
  fixed: BenchRequest[];
  /** The spread requests drawn with Zipf weights (s = 1): a few hot endpoints, a long tail. */
  skewed: BenchRequest[];
  outcomes: Outcome[];
}

type Rounds = ReturnType<typeof combineRounds>;

interface SizeResult {
  routes: number;
  hosts: number;
  compileMs: Prepared['compileMs'];
  heapOfTableMb: number;
  mix: Record<Outcome, number>;
  trie: Rounds;
  /** The trie's lookup alone (no decision), same requests. */
  trieMatch: Rounds;
  linear: Rounds;
  /** The trie on the 10-route set's requests: the lookup's cost without the working set growing. */
  trieFixed: Rounds;
  /** The trie on Zipf-skewed requests over the whole set, as real traffic is. */
  trieSkewed: Rounds;
  classes: Record<string, LatencySummary & { requests: number }>;
}

/** Startup's work: the schema, compileRoutes, the table; the parsed files are dropped after. */
function compileAll(input: readonly RouteInput[]) {
  const t0 = performance.now();
  const policy = policyFileSchema.parse({ routes: input });
  const t1 = performance.now();
  const routes = compileRoutes([{ file: 'bench.yaml', policy, routeLines: input.map((_r, i) => i + 1) }]);
  const t2 = performance.now();
  const table = new RouteTable(routes);
  const t3 = performance.now();
  return { routes, table, compileMs: { parse: t1 - t0, compile: t2 - t1, table: t3 - t2 } };
}

const show = (x: RouteMatch | undefined) => (!x ? 'none' : 'route' in x ? x.route.name : `405 ${x.methodNotAllowed.join(',')}`);

function prepare(count: number, seed: number, log: (l: string) => void): Prepared {
  const gc = gcFunction();
  const input = generateRoutes(count, seed);
  const requests = generateRequests(input, MIX, seed + 1);
  gc();
  const before = process.memoryUsage().heapUsed;
  const { routes, table, compileMs } = compileAll(input);
  gc();
  const heapOfTableMb = (process.memoryUsage().heapUsed - before) / 2 ** 20;
  const linear = new LinearRouteScan(routes);
  for (const [k, r] of requests.entries()) {
    const a = show(table.match(r.host, r.path, r.method));
    const b = show(linear.match(r.host, r.path, r.method));
    if (a !== b) throw new Error(`matchers disagree on request ${k} ${r.method} ${r.host}${r.path}: trie ${a}, linear ${b}`);
  }
  log(`${count} routes: compiled in ${(compileMs.parse + compileMs.compile + compileMs.table).toFixed(0)} ms; matchers agree on all ${requests.length} requests`);
  return {
    routes: count,
    hosts: new Set(input.map((r) => r.host ?? '')).size,
    compileMs,
    heapOfTableMb,
    table,
    linear,
    requests,
    fixed: generateRequests(generateRoutes(Math.min(10, count), seed), MIX, seed + 1),
    skewed: zipfSample(requests, MIX, seed + 2),
    outcomes: requests.map((r) => decide(table, r)),
  };
}

/**
 * `count` requests drawn from `from` with Zipf weights (s = 1) over a seeded shuffle of it:
 * the request at rank k is drawn with probability proportional to 1/k, as endpoint popularity
 * usually is (a few hot prediction and UI endpoints, a long tail).
 */
function zipfSample(from: readonly BenchRequest[], count: number, seed: number): BenchRequest[] {
  const next = rng(seed);
  const order = from.map((_r, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const cumulative: number[] = [];
  let total = 0;
  for (let k = 1; k <= order.length; k++) cumulative.push((total += 1 / k));
  return Array.from({ length: count }, () => {
    const x = next() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return from[order[lo]!]!;
  });
}

const depth = (p: string) => p.split('/').filter(Boolean).length;
const hit = (o: Outcome) => o !== 'no-route' && o !== 'method-not-allowed';
/** Subsets of the spread mix measured alone (once, after the rounds). */
const CLASSES: Record<string, (r: BenchRequest, o: Outcome) => boolean> = {
  'deep hit (≥4 segments)': (r, o) => depth(r.path) >= 4 && hit(o),
  'shallow hit (≤2 segments)': (r, o) => depth(r.path) <= 2 && hit(o),
  allow: (_r, o) => o === 'allow',
  'deny rule': (_r, o) => o === 'deny-rule',
  '405': (_r, o) => o === 'method-not-allowed',
  'no route': (_r, o) => o === 'no-route',
};

/**
 * Measures every set in `rounds` interleaved rounds (the order of the sets reversed every other
 * round, so drift on a shared machine hits all alike), then the classes once.
 */
function runAll(sets: readonly Prepared[], rounds: number, seconds: number, log: (l: string) => void): SizeResult[] {
  const per = sets.map(() => ({ trie: [] as LatencySummary[], match: [] as LatencySummary[], linear: [] as LatencySummary[], fixed: [] as LatencySummary[], skewed: [] as LatencySummary[] }));
  for (let round = 0; round < rounds; round++) {
    const order = sets.map((_s, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      const set = sets[i]!;
      log(`round ${round + 1}/${rounds}: ${set.routes} routes`);
      per[i]!.trie.push(measure(set.table, set.requests, seconds, 50));
      per[i]!.match.push(measure(set.table, set.requests, seconds / 2, 50, matchOnly));
      per[i]!.linear.push(measure(set.linear, set.requests, seconds, 10));
      per[i]!.fixed.push(measure(set.table, set.fixed, seconds / 2, 50));
      per[i]!.skewed.push(measure(set.table, set.skewed, seconds / 2, 50));
    }
  }
  return sets.map((set, i) => {
    const classes: SizeResult['classes'] = {};
    for (const [name, keep] of Object.entries(CLASSES)) {
      const subset = set.requests.filter((r, k) => keep(r, set.outcomes[k]!));
      if (subset.length) classes[name] = { ...measure(set.table, tile(subset, MIX), seconds / 4, 50), requests: subset.length };
    }
    const mix = { allow: 0, 'deny-rule': 0, refused: 0, 'method-not-allowed': 0, 'no-route': 0 } satisfies Record<Outcome, number>;
    for (const o of set.outcomes) mix[o]++;
    const { routes, hosts, compileMs, heapOfTableMb } = set;
    const r = per[i]!;
    const [trie, trieMatch, linear, trieFixed, trieSkewed] = [r.trie, r.match, r.linear, r.fixed, r.skewed].map(combineRounds) as [Rounds, Rounds, Rounds, Rounds, Rounds];
    return { routes, hosts, compileMs, heapOfTableMb, mix, trie, trieMatch, linear, trieFixed, trieSkewed, classes };
  });
}

const us = (ns: number) => (ns / 1000).toFixed(ns < 10_000 ? 2 : 0);
const kops = (n: number) => `${Math.round(n / 1000).toLocaleString('en-US')}k`;

function formatMarkdown(results: readonly SizeResult[]): string {
  const lines = [
    '| routes | hosts | compile ms (parse + compile + table) | heap of routes + table MB | trie median µs (rounds) | p99 | max | ops/s | lookup alone | linear median µs | p99 | ops/s | linear ÷ trie | trie, 10-route requests (rounds) | trie, Zipf-skewed requests (rounds) |',
    '|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const c = r.compileMs;
    lines.push(
      `| ${r.routes.toLocaleString('en-US')} | ${r.hosts} | ${(c.parse + c.compile + c.table).toFixed(0)} (${c.parse.toFixed(0)} + ${c.compile.toFixed(0)} + ${c.table.toFixed(0)}) | ` +
        `${r.heapOfTableMb.toFixed(1)} | **${us(r.trie.medianNs)}** (${r.trie.roundMediansNs.map(us).join(' / ')}) | ${us(r.trie.p99Ns)} | ${us(r.trie.maxNs)} | ${kops(r.trie.opsPerSec)} | ${us(r.trieMatch.medianNs)} | ` +
        `${us(r.linear.medianNs)} | ${us(r.linear.p99Ns)} | ${kops(r.linear.opsPerSec)} | ${(r.linear.medianNs / r.trie.medianNs).toFixed(1)} | ${us(r.trieFixed.medianNs)} (${r.trieFixed.roundMediansNs.map(us).join(' / ')}) | ` +
        `${us(r.trieSkewed.medianNs)} (${r.trieSkewed.roundMediansNs.map(us).join(' / ')}) |`,
    );
  }
  const first = results[0];
  const last = results.at(-1);
  if (first && last && first !== last) {
    const ratio = (f: (r: SizeResult) => number, digits: number) => (f(last) / f(first)).toFixed(digits);
    lines.push(
      '',
      `Median ${last.routes.toLocaleString('en-US')} ÷ ${first.routes} routes: trie ${ratio((r) => r.trie.medianNs, 2)}× on requests spread over all routes, ` +
        `${ratio((r) => r.trieFixed.medianNs, 2)}× on the same 10-route requests; linear ${ratio((r) => r.linear.medianNs, 0)}×.`,
    );
  }
  const names = [...new Set(results.flatMap((r) => Object.keys(r.classes)))];
  lines.push('', `| trie, median µs (requests in class) | ${results.map((r) => r.routes.toLocaleString('en-US')).join(' | ')} |`, `|---|${results.map(() => '---:').join('|')}|`);
  for (const n of names) lines.push(`| ${n} | ${results.map((r) => (r.classes[n] ? `${us(r.classes[n].medianNs)} (${r.classes[n].requests})` : '—')).join(' | ')} |`);
  lines.push('', `| mix of ${MIX} requests | ${results.map((r) => r.routes.toLocaleString('en-US')).join(' | ')} |`, `|---|${results.map(() => '---:').join('|')}|`);
  for (const o of Object.keys(results[0]?.mix ?? {}) as Outcome[]) lines.push(`| ${o} | ${results.map((r) => r.mix[o]).join(' | ')} |`);
  return lines.join('\n');
}

function main(): number {
  const { values: v } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: { sizes: { type: 'string' }, rounds: { type: 'string' }, seconds: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  const sizes = (v.sizes ?? '10,1000,10000').split(',').map(Number);
  const rounds = Number(v.rounds ?? 3);
  const seconds = Number(v.seconds ?? 2);
  const seed = Number(v.seed ?? 7);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !(Number.isInteger(rounds) && rounds > 0) || !(seconds > 0) || !Number.isInteger(seed)) {
    console.error(USAGE);
    return 2;
  }
  const log = (l: string) => console.error(l);
  const host = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '?', node: process.version, loadavgStart: os.loadavg() };
  const busy0 = hostBusySeconds();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const results = runAll(
    sizes.map((n) => prepare(n, seed, log)),
    rounds,
    seconds,
    log,
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // Busy cores of the whole host during the run, and of this process: the rest is other work.
  const hostBusyCores = (hostBusySeconds() - busy0) / wall;
  const benchCores = (cpu.user + cpu.system) / 1e6 / wall;
  const report = {
    startedAt: new Date().toISOString(),
    options: { sizes, rounds, seconds, seed, opsPerBatch: OPS_PER_BATCH, mix: MIX },
    host: { ...host, loadavgEnd: os.loadavg(), hostBusyCores, benchCores },
    results,
  };
  console.log(
    `${rounds} interleaved rounds (medians), ${OPS_PER_BATCH} ops per batch, ~${seconds} s per matcher, size and round; ${host.cpus} × ${host.cpuModel}, Node ${host.node}; ` +
      `host busy ${hostBusyCores.toFixed(2)} cores during the run, ${benchCores.toFixed(2)} of them this bench\n`,
  );
  console.log(formatMarkdown(results));
  const dir = v.out ?? RESULTS;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `routes-${report.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  log(`results: ${file}`);
  return 0;
}

process.exitCode = main();
