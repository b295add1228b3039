/** Per-operation times, from batches of operations timed together. */
export interface LatencySummary {
  /** Number of batches. */
  batches: number;
  /** Median, 99th percentile and maximum of the batches' mean ns per operation. */
  medianNs: number;
  p99Ns: number;
  maxNs: number;
  /** Operations per second over all batches (total operations / total time). */
  opsPerSec: number;
}

/** The nearest-rank percentile `p` (0-100] of a list; NaN for an empty one. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Summarizes batch times: `batchNs[i]` is the time of batch i of `opsPerBatch` operations. */
export function summarizeBatches(batchNs: readonly number[], opsPerBatch: number): LatencySummary {
  const perOp = batchNs.map((ns) => ns / opsPerBatch);
  const totalNs = batchNs.reduce((a, b) => a + b, 0);
  return {
    batches: batchNs.length,
    medianNs: percentile(perOp, 50),
    p99Ns: percentile(perOp, 99),
    maxNs: perOp.length ? Math.max(...perOp) : Number.NaN,
    opsPerSec: totalNs > 0 ? (batchNs.length * opsPerBatch * 1e9) / totalNs : Number.NaN,
  };
}

/** Rounds of the same measurement as one: medians of the medians, p99s and rates, the largest max. */
export function combineRounds(rounds: readonly LatencySummary[]): LatencySummary & { roundMediansNs: number[] } {
  const mid = (f: (s: LatencySummary) => number) => percentile(rounds.map(f), 50);
  return {
    batches: rounds.reduce((a, s) => a + s.batches, 0),
    medianNs: mid((s) => s.medianNs),
    p99Ns: mid((s) => s.p99Ns),
    maxNs: rounds.length ? Math.max(...rounds.map((s) => s.maxNs)) : Number.NaN,
    opsPerSec: mid((s) => s.opsPerSec),
    roundMediansNs: rounds.map((s) => s.medianNs),
  };
}
