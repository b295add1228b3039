import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** True when a `wrk` binary is on PATH. */
export function wrkAvailable(): boolean {
  // `wrk -v` prints its version and exits 1; a missing binary gives an error instead of a status.
  const r = spawnSync('wrk', ['-v'], { stdio: 'ignore' });
  return r.error === undefined;
}

/** One wrk run; defaults in brackets. */
export interface WrkOptions {
  url: string;
  seconds: number;
  connections: number;
  threads: number;
  /** Sent on every request (e.g. a session cookie). */
  headers?: Record<string, string>;
  /** Cookie headers taken in turn, one per request (many sessions instead of one). */
  cookies?: readonly string[];
  /** Socket/request timeout passed to wrk as --timeout [2]. */
  timeoutSeconds?: number;
  /** Aborting kills this wrk run (by its pid) and rejects. */
  signal?: AbortSignal;
}

/** What one wrk run measured. */
export interface WrkResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses whose status was not 2xx or 3xx. */
  non2xx: number;
  /** Socket errors: connect + read + write + timeout. */
  errors: number;
  /** Completed requests. */
  requests: number;
}

/** Runs `wrk --latency` and parses its report. Rejects if wrk fails or prints no summary. */
export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.seconds}s`, '--timeout', `${o.timeoutSeconds ?? 2}s`, '--latency'];
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`);
  const script = o.cookies?.length ? cookieScript(o.cookies) : undefined;
  if (script) args.push('-s', script.path);
  args.push(o.url);
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'], signal: o.signal });
  child.once('close', () => script?.remove());
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`wrk exited with ${code}: ${err.trim() || out.trim()}`);
  return parseWrkOutput(out);
}

/** A wrk Lua script sending the given Cookie headers in turn (each thread starts at its own offset). */
function cookieScript(cookies: readonly string[]): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-wrk-'));
  const path = join(dir, 'cookies.lua');
  const list = cookies.map((c) => JSON.stringify(c)).join(',\n  ');
  writeFileSync(path, `local cookies = {\n  ${list}\n}\nlocal i = math.random(#cookies)\nrequest = function()\n  i = i % #cookies + 1\n  return wrk.format(nil, nil, { ["Cookie"] = cookies[i] })\nend\n`);
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a wrk duration such as `812.00us`, `1.25ms`, `2.01s` into milliseconds. */
export function parseWrkDuration(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`not a wrk duration: ${text}`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** Parses the text report of `wrk --latency`. */
export function parseWrkOutput(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  const total = /(\d+) requests in /.exec(out);
  if (!rps || !p50 || !p99 || !total) throw new Error(`unexpected wrk output:\n${out}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requestsPerSec: Number(rps[1]),
    p50Ms: parseWrkDuration(p50[1]!),
    p99Ms: parseWrkDuration(p99[1]!),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    errors: se ? se.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    requests: Number(total[1]),
  };
}
