import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWrkDuration, parseWrkOutput } from './wrk.js';

const SAMPLE = `Running 8s test @ http://127.0.0.1:9000/
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.23ms  812.00us  20.01ms   90.12%
    Req/Sec    20.01k     1.23k   25.00k    70.00%
  Latency Distribution
     50%  812.00us
     75%    1.40ms
     90%    1.80ms
     99%    2.50s
  318000 requests in 8.00s, 45.00MB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:  39750.25
Transfer/sec:      5.62MB
`;

test('parses rate, percentiles in every unit, non-2xx and socket errors', () => {
  assert.deepEqual(parseWrkOutput(SAMPLE), { requestsPerSec: 39750.25, p50Ms: 0.812, p99Ms: 2500, non2xx: 7, errors: 6, requests: 318000 });
});

test('a clean run has no error lines: zero, not NaN', () => {
  const clean = SAMPLE.replace(/ {2}Socket errors.*\n/, '').replace(/ {2}Non-2xx.*\n/, '');
  const r = parseWrkOutput(clean);
  assert.equal(r.non2xx, 0);
  assert.equal(r.errors, 0);
});

test('output without a latency distribution is rejected (forgot --latency)', () => {
  assert.throws(() => parseWrkOutput(SAMPLE.replace(/ {2}Latency Distribution[\s\S]*?99%.*\n/, '')), /unexpected wrk output/);
});

test('durations', () => {
  assert.equal(parseWrkDuration('1.5m'), 90_000);
  assert.throws(() => parseWrkDuration('fast'));
});
