/**
 * The example policies in policies/ are tested like users should test theirs: every test file in
 * policies/tests/ passes under `gatehouse policy test`, and together they leave no rule and no
 * route uncovered. Each example says what it grants and why, and has its test file.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { runPolicyTest, testPolicies } from '../../proxy/cli/policy-test.js';

const POLICIES = new URL('../../policies/', import.meta.url).pathname;
const TESTS = `${POLICIES}tests/`;
const examples = readdirSync(POLICIES).filter((f) => f.endsWith('.yaml')).sort();
const testFiles = readdirSync(TESTS).filter((f) => f.endsWith('.test.yaml')).sort().map((f) => `${TESTS}${f}`);

describe('example policies', () => {
  test('every policies/tests/*.test.yaml passes: exit 0', () => {
    let out = '';
    const sink = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
    assert.ok(testFiles.length >= 5, testFiles.join());
    assert.equal(runPolicyTest(testFiles, sink, sink), 0, out);
    assert.match(out, /; every rule covered\n$/);
  });

  test('no rule is left undecided and no route unreached', () => {
    const report = testPolicies(testFiles);
    assert.deepEqual(report.failures.map((f) => f.case.at), []);
    assert.deepEqual(report.uncoveredRules, []);
    assert.deepEqual(report.unreachedRoutes, []);
  });

  test('each example has a header (what, Grants:, Why:) and a test file of its own', () => {
    assert.ok(examples.length >= 5, examples.join());
    for (const name of examples) {
      const text = readFileSync(`${POLICIES}${name}`, 'utf8');
      assert.match(text, /^# .+\n# Grants: .+/, name);
      assert.match(text, /^# Why: /m, name);
      const own = `${TESTS}${name.replace(/\.yaml$/, '.test.yaml')}`;
      assert.ok(testFiles.includes(own), `${name} has no ${own}`);
      assert.match(readFileSync(own, 'utf8'), new RegExp(`^policies: \\[\\.\\./${name.replace('.', '\\.')}\\]`, 'm'), `${own} tests ${name}`);
    }
  });

  test('each example test file tries attack-shaped requests', () => {
    for (const f of testFiles) {
      const text = readFileSync(f, 'utf8');
      assert.match(text, /%2e%2e|%2E%2E/, `${f}: encoded dot segments`);
      assert.match(text, /expect: (bad-path|method-not-allowed|no-route)/, `${f}: a request no route or rule should take`);
    }
  });
});
