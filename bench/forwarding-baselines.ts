/**
 * Forwarding baselines: the echo upstream direct, a plain nginx reverse proxy, and any target
 * given with --target (Gatehouse, later), loaded with wrk in interleaved rounds; prints a
 * markdown table of medians and ratios, and writes the JSON into bench/results/.
 *
 *   node --import tsx bench/forwarding-baselines.ts --rounds 3 --seconds 8 \
 *     --target gatehouse=http://127.0.0.1:8080/ --header 'gatehouse=Cookie: gh_session=…'
 */
import { fileURLToPath } from 'node:url';
import { runForwardingBaselines } from './lib/baselines.js';
import { parseBenchArgs, USAGE } from './lib/args.js';
import { formatMarkdown, writeReport } from './lib/report.js';
import { wrkAvailable } from './lib/wrk.js';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseBenchArgs>;
  try {
    parsed = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { options, outDir, help } = parsed;
  if (help) {
    console.log(USAGE);
    return 0;
  }
  if (!wrkAvailable()) {
    console.error('wrk is not installed: nothing to measure with');
    return 2;
  }
  const abort = new AbortController();
  // Ctrl-C: stop wrk, nginx and the upstream we started (by pid) before exiting.
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  const report = await runForwardingBaselines({ ...options, log: (l) => console.error(l), signal: abort.signal }).catch((err: Error) => {
    if (abort.signal.aborted) return undefined;
    throw err;
  });
  if (report === undefined) {
    console.error('interrupted: everything started was stopped');
    return 130;
  }
  console.log(formatMarkdown(report));
  console.error(`results: ${writeReport(report, outDir ?? RESULTS)}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  },
);
