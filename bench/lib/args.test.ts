import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRoundsArgs } from './args.js';

test('parseRoundsArgs: shared defaults, given values, extra options, and refusals', () => {
  const d = parseRoundsArgs([], ['nginx'], { seconds: 5, outDir: '/r' });
  assert.deepEqual(d.args, { rounds: 3, seconds: 5, connections: 50, threads: 2, warmupSeconds: 2, bodyBytes: 100, outDir: '/r', help: false });
  const g = parseRoundsArgs(['--rounds', '1', '--warmup', '0', '--out', '/x', '--sessions', '7', '-h'], ['sessions'], { seconds: 4, outDir: '/r' });
  assert.equal(g.args.rounds, 1);
  assert.equal(g.args.warmupSeconds, 0);
  assert.equal(g.args.outDir, '/x');
  assert.equal(g.args.help, true);
  assert.equal(g.num('sessions', 200, 1), 7);
  assert.deepEqual(g.extra, { sessions: '7' });
  assert.throws(() => parseRoundsArgs(['--rounds', '0'], [], { seconds: 5, outDir: '/r' }), /--rounds wants a whole number ≥ 1/);
  assert.throws(() => parseRoundsArgs(['--nope', '1'], [], { seconds: 5, outDir: '/r' }));
});
