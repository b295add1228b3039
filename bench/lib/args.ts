import { parseArgs } from 'node:util';
import type { BaselineOptions, BenchTarget } from './baselines.js';
import type { ProbedOptions } from './probed-rounds.js';

/** Usage text of bench/forwarding-baselines.ts. */
export const USAGE = `node --import tsx bench/forwarding-baselines.ts [options]
  --rounds N             interleaved rounds, medians reported [3]
  --seconds N            wrk duration per run [8]
  --connections N        wrk -c [50]
  --threads N            wrk -t [2]
  --warmup N             warm-up seconds per target before round 1 [2]
  --body-bytes N         upstream response body size [100]
  --upstream-port N      fixed port for the echo upstream [free port]
  --nginx 1|auto|both|off  nginx baselines [1]
  --target name=url      extra target (repeatable)
  --header name=H: v     header sent to target "name" (repeatable), e.g. gatehouse='Cookie: gh_session=...'
  --pid name=pid         charge the CPU of pid (and its children) to target "name" (repeatable)
  --out dir              where the JSON goes [bench/results]`;

const num = (v: string | undefined, flag: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${flag} wants a number, got ${v}`);
  return n;
};

/** Splits `name=rest` at the first `=`. */
function pair(v: string, flag: string): [string, string] {
  const i = v.indexOf('=');
  if (i <= 0) throw new Error(`--${flag} wants name=value, got ${v}`);
  return [v.slice(0, i), v.slice(i + 1)];
}

/** Parses the command line into runner options and the output directory. */
export function parseBenchArgs(argv: string[]): { options: BaselineOptions; outDir?: string; help: boolean } {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      rounds: { type: 'string' }, seconds: { type: 'string' }, connections: { type: 'string' }, threads: { type: 'string' },
      warmup: { type: 'string' }, 'body-bytes': { type: 'string' }, 'upstream-port': { type: 'string' }, nginx: { type: 'string' },
      target: { type: 'string', multiple: true }, header: { type: 'string', multiple: true }, pid: { type: 'string', multiple: true },
      out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  const targets = new Map<string, BenchTarget>();
  for (const t of v.target ?? []) {
    const [name, url] = pair(t, 'target');
    targets.set(name, { name, url: new URL(url).href });
  }
  const named = (flag: string, name: string) => {
    const t = targets.get(name);
    if (!t) throw new Error(`--${flag} names unknown target ${name}`);
    return t;
  };
  for (const h of v.header ?? []) {
    const [name, header] = pair(h, 'header');
    const colon = header.indexOf(':');
    if (colon <= 0) throw new Error(`--header wants name=Header: value, got ${h}`);
    const t = named('header', name);
    t.headers = { ...t.headers, [header.slice(0, colon).trim()]: header.slice(colon + 1).trim() };
  }
  for (const p of v.pid ?? []) {
    const [name, pid] = pair(p, 'pid');
    named('pid', name).pid = num(pid, 'pid');
  }
  const nginx = v.nginx ?? '1';
  if (!['1', 'auto', 'both', 'off'].includes(nginx)) throw new Error(`--nginx wants 1, auto, both or off, got ${nginx}`);
  const options: BaselineOptions = {
    targets: [...targets.values()],
    rounds: num(v.rounds, 'rounds'),
    seconds: num(v.seconds, 'seconds'),
    connections: num(v.connections, 'connections'),
    threads: num(v.threads, 'threads'),
    warmupSeconds: num(v.warmup, 'warmup'),
    bodyBytes: num(v['body-bytes'], 'body-bytes'),
    upstreamPort: num(v['upstream-port'], 'upstream-port'),
    nginx: nginx === '1' ? 1 : (nginx as 'auto' | 'both' | 'off'),
  };
  return { options, outDir: v.out, help: v.help ?? false };
}

/** What every interleaved-rounds benchmark (bench:sessions, bench:tokens) takes: the run settings of runProbedRounds, where the JSON goes, and -h. */
export type RoundsArgs = Pick<ProbedOptions, 'rounds' | 'seconds' | 'connections' | 'threads' | 'warmupSeconds' | 'bodyBytes'> & { outDir: string; help: boolean };

/**
 * Parses the options every interleaved-rounds benchmark shares (`--rounds --seconds --connections
 * --threads --warmup --body-bytes --out -h`) plus the string options `extra` names, whose raw
 * values are returned as they are. `num` reads one of them as a whole number ≥ min.
 */
export function parseRoundsArgs<E extends string>(
  argv: string[],
  extra: readonly E[],
  defaults: { seconds: number; outDir: string },
): { args: RoundsArgs; extra: Partial<Record<E, string>>; num: (flag: E, fallback: number, min: number) => number } {
  const options: Record<string, { type: 'string' } | { type: 'boolean'; short: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const name of ['rounds', 'seconds', 'connections', 'threads', 'warmup', 'body-bytes', 'out', ...extra]) options[name] = { type: 'string' };
  const { values: v } = parseArgs({ args: argv, strict: true, options });
  const num = (flag: string, fallback: number, min: number): number => {
    const text = v[flag];
    if (text === undefined || typeof text === 'boolean') return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${flag} wants a whole number ≥ ${min}, got ${text}`);
    return n;
  };
  const args: RoundsArgs = {
    rounds: num('rounds', 3, 1),
    seconds: num('seconds', defaults.seconds, 1),
    connections: num('connections', 50, 1),
    threads: num('threads', 2, 1),
    warmupSeconds: num('warmup', 2, 0),
    bodyBytes: num('body-bytes', 100, 0),
    outDir: typeof v.out === 'string' ? v.out : defaults.outDir,
    help: v.help === true,
  };
  const given = Object.fromEntries(extra.flatMap((e) => (typeof v[e] === 'string' ? [[e, v[e]]] : []))) as Partial<Record<E, string>>;
  return { args, extra: given, num };
}
