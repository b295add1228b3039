/**
 * A/B of the upstream engines: the same minimal front (bench/lib/ab-front-main.ts) over the
 * native pool and over undici Pool.dispatch (production forwardHttp), each in its own process,
 * against the echo upstream, wrk in interleaved rounds; `direct` is the bare node:http floor.
 *
 *   node --import tsx bench/native-upstream-ab.ts [--rounds 3] [--seconds 5]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runForwardingBaselines, type BenchTarget } from './lib/baselines.js';
import { readReadyLine, stopChild } from './lib/child.js';
import { startEchoUpstream } from './lib/echo-upstream.js';
import { formatMarkdown, writeReport } from './lib/report.js';

const FRONT = fileURLToPath(new URL('./lib/ab-front-main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const upstream = await startEchoUpstream();
  const children = ['native', 'undici'].map((engine) => ({ engine, child: spawn(process.execPath, ['--import', 'tsx', FRONT, engine, upstream.url], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] }) }));
  try {
    const targets: BenchTarget[] = [];
    for (const { engine, child } of children) {
      const ready = await readReadyLine<{ port: number; pid: number }>(child);
      targets.push({ name: engine, url: `http://127.0.0.1:${ready.port}/`, pid: ready.pid });
    }
    const report = await runForwardingBaselines({ upstream, targets, nginx: 'off', rounds: arg('rounds', 3), seconds: arg('seconds', 5), log: (l) => console.error(l) });
    console.log(formatMarkdown(report));
    console.error(`results: ${writeReport(report, RESULTS, 'native-upstream-ab')}`);
  } finally {
    for (const { child } of children) await stopChild(child);
    await upstream.stop();
  }
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
