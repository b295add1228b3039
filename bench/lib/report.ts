import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BaselineReport } from './baselines.js';

const fmt = (v: number | undefined, digits: number) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));

/** The report as a markdown table: medians over rounds, ratios to nginx and to direct. */
export function formatMarkdown(report: BaselineReport): string {
  const o = report.options;
  const lines = [
    `wrk -t${o.threads} -c${o.connections} -d${o.seconds}s --latency, ${o.rounds} interleaved rounds (medians), ` +
      `${report.host.cpus} × ${report.host.cpuModel}, Node ${report.host.node}, load ${report.host.loadavgStart[0]?.toFixed(2)} → ${report.host.loadavgEnd[0]?.toFixed(2)}`,
    '',
    '| target | req/s | runs req/s | p50 ms | p99 ms | × nginx | × direct | CPU (cores) | CPU µs/req | non-2xx+errors |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const t of report.targets) {
    const runs = t.runs.map((r) => Math.round(r.requestsPerSec)).join(' / ');
    lines.push(
      `| ${t.name} | ${Math.round(t.requestsPerSec)} | ${runs} | ${fmt(t.p50Ms, 2)} | ${fmt(t.p99Ms, 2)} | ${fmt(t.vsNginx, 2)} | ${fmt(t.vsDirect, 2)} | ${fmt(t.cpuCores, 2)} | ${fmt(t.cpuUsPerReq, 1)} | ${t.non2xx + t.errors} |`,
    );
  }
  return lines.join('\n');
}

/** Writes the report as JSON into `dir` (created if missing); returns the file path. */
export function writeReport(report: BaselineReport, dir: string, prefix = 'forwarding-baselines'): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${prefix}-${report.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
