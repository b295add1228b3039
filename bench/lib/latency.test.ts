import assert from 'node:assert/strict';
import { test } from 'node:test';
import { combineRounds, percentile, summarizeBatches } from './latency.js';

test('percentile: nearest rank, input untouched, NaN for none', () => {
  const xs = [5, 1, 4, 2, 3];
  assert.equal(percentile(xs, 50), 3);
  assert.equal(percentile(xs, 99), 5);
  assert.equal(percentile(xs, 100), 5);
  assert.equal(percentile(xs, 1), 1);
  assert.deepEqual(xs, [5, 1, 4, 2, 3]);
  assert.equal(percentile(Array.from({ length: 100 }, (_v, i) => i + 1), 99), 99);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('summarizeBatches: per-op times from batch times, ops/s from the total', () => {
  const s = summarizeBatches([1000, 2000, 3000, 10_000], 1000);
  assert.deepEqual(s, { batches: 4, medianNs: 2, p99Ns: 10, maxNs: 10, opsPerSec: 4000 * 1e9 / 16_000 });
});

test('combineRounds: median of the round medians, p99s and rates, the largest max, every round kept', () => {
  const round = (medianNs: number, p99Ns: number, maxNs: number, opsPerSec: number) => ({ batches: 10, medianNs, p99Ns, maxNs, opsPerSec });
  assert.deepEqual(combineRounds([round(3, 9, 20, 100), round(1, 5, 50, 300), round(2, 7, 10, 200)]), {
    batches: 30,
    medianNs: 2,
    p99Ns: 7,
    maxNs: 50,
    opsPerSec: 200,
    roundMediansNs: [3, 1, 2],
  });
});
