import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exitCodeAfter, problemsBefore } from './run-checks.js';

/** Runs `fn` with console.error captured. */
function captured<T>(fn: () => T): { value: T; lines: string[] } {
  const lines: string[] = [];
  const original = console.error;
  console.error = (line: string) => void lines.push(line);
  try {
    return { value: fn(), lines };
  } finally {
    console.error = original;
  }
}

test('a run whose check fails before it does not start; the problems are printed', () => {
  assert.deepEqual(captured(() => problemsBefore([])), { value: false, lines: [] });
  assert.deepEqual(captured(() => problemsBefore(['cookie before the run: 302'])), { value: true, lines: ['cookie before the run: 302'] });
});

test('exit 1 when a target answered non-2xx or errors, or the check after the run found problems; 0 otherwise', () => {
  const clean = [{ name: 'cookie', non2xx: 0, errors: 0 }];
  assert.deepEqual(captured(() => exitCodeAfter(clean, [], 'x')), { value: 0, lines: [] });
  const bad = captured(() => exitCodeAfter([...clean, { name: 'cli', non2xx: 3, errors: 1 }], ['cookie after the run: 302'], 'its numbers may be of redirects'));
  assert.equal(bad.value, 1);
  assert.deepEqual(bad.lines, ['cli answered 3 non-2xx and 1 errors: the numbers are not of authenticated requests', 'cookie after the run: 302: its numbers may be of redirects']);
  assert.equal(captured(() => exitCodeAfter(clean, ['late problem'], 'x')).value, 1);
});
