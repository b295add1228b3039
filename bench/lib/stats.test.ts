import assert from 'node:assert/strict';
import { test } from 'node:test';
import { median, medianDefined } from './stats.js';

test('median of odd and even lists, unsorted input untouched', () => {
  const xs = [3, 1, 2];
  assert.equal(median(xs), 2);
  assert.deepEqual(xs, [3, 1, 2]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('medianDefined skips undefined and gives undefined for none', () => {
  assert.equal(medianDefined([undefined, 5, 1]), 3);
  assert.equal(medianDefined([undefined]), undefined);
});
