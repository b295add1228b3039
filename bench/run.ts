/**
 * `npm run bench`: authenticated GET throughput and latency through Gatehouse, against the bare
 * upstream, nginx and Apache + mod_auth_mellon with a signed-in session (each when installed), in
 * the same interleaved run. Prints a markdown table with
 * ratios and writes the JSON to bench/results/. Loopback only; every process started is stopped.
 *
 *   npm run bench -- --rounds 5 --seconds 8
 */
import { fileURLToPath } from 'node:url';
import { parseBenchArgs, USAGE } from './lib/args.js';
import { runForwardingBaselines } from './lib/baselines.js';
import { startEchoUpstream } from './lib/echo-upstream.js';
import { startGatehouseProcess } from './lib/gatehouse-process.js';
import { mellonAvailable, startMellon, type Mellon } from './lib/mellon.js';
import { formatMarkdown, writeReport } from './lib/report.js';
import { exitCodeAfter } from './lib/run-checks.js';
import { wrkAvailable } from './lib/wrk.js';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

async function main(): Promise<number> {
  const { options, outDir, help } = parseBenchArgs(process.argv.slice(2));
  if (help) return console.log(USAGE.replace('bench/forwarding-baselines.ts', 'bench/run.ts')), 0;
  if (!wrkAvailable()) {
    console.error('wrk is not installed (apt-get install wrk): nothing to measure with');
    return 2;
  }
  const upstream = await startEchoUpstream({ bodyBytes: options.bodyBytes });
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  try {
    const gh = await startGatehouseProcess(upstream.url);
    // The same Gatehouse with its undici upstream client: what the native engine buys, same run.
    const ghUndici = await startGatehouseProcess(upstream.url, { upstreamClient: 'undici' });
    // Like for like with nginx and mellon, which run here without access logs.
    const ghNoLog = await startGatehouseProcess(upstream.url, { requestLogs: false });
    let mellon: Mellon | undefined;
    try {
      if (mellonAvailable()) mellon = await startMellon({ upstreamUrl: upstream.url });
      else console.error('apache2 or mod_auth_mellon not installed (.ci/install-system-deps.sh): no mellon baseline');
      const report = await runForwardingBaselines({
        ...options,
        upstream,
        targets: [
          { name: 'gatehouse', url: `${gh.url}/bench`, headers: { cookie: gh.cookie }, pid: gh.pid },
          { name: 'gatehouse-undici', url: `${ghUndici.url}/bench`, headers: { cookie: ghUndici.cookie }, pid: ghUndici.pid },
          { name: 'gatehouse-nolog', url: `${ghNoLog.url}/bench`, headers: { cookie: ghNoLog.cookie }, pid: ghNoLog.pid },
          ...(mellon ? [{ name: 'mellon', url: mellon.url, headers: { cookie: mellon.cookie }, pid: mellon.pid }] : []),
          ...(options.targets ?? []),
        ],
        log: (l) => console.error(l),
        signal: abort.signal,
      });
      console.log(formatMarkdown(report));
      console.error(`results: ${writeReport(report, outDir ?? RESULTS)}`);
      const authenticated = ['gatehouse', 'gatehouse-undici', 'gatehouse-nolog', 'mellon'].flatMap((name) => report.targets.filter((x) => x.name === name));
      // wrk does not count 3xx as failures: check that the mellon session survived the run.
      const after = (await mellon?.verify().then(
        () => [],
        (err: Error) => [`mellon session no longer valid after the run (${err.message})`],
      )) ?? [];
      return exitCodeAfter(authenticated, after, 'its numbers may be of redirects');
    } finally {
      await mellon?.stop();
      await gh.stop();
      await ghUndici.stop();
      await ghNoLog.stop();
    }
  } finally {
    await upstream.stop();
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
