import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { explainRequest, runExplain } from '../../proxy/cli/policy-explain.js';

const CONFIG = new URL('../../config.example.yaml', import.meta.url).pathname;
const alice = { email: 'alice@example.com', groups: ['ml-engineers'] };

describe('gatehouse policy explain', () => {
  test('works from the policy files alone: no secret in the environment needed', () => {
    const saved = process.env.GATEHOUSE_SESSION_SECRET;
    delete process.env.GATEHOUSE_SESSION_SECRET;
    try {
      const e = explainRequest(CONFIG, 'GET', 'https://notebooks.ml.example.com/lab/tree', alice);
      assert.deepEqual([e.decision, e.route, e.rule, e.reasons], ['allow', 'jupyter', 'allow[0]', ['groups-ok']]);
      assert.match(e.source!, /policies\/jupyter\.yaml:\d+$/);
    } finally {
      if (saved !== undefined) process.env.GATEHOUSE_SESSION_SECRET = saved;
    }
  });

  const cases: [string, string, Parameters<typeof explainRequest>[3], string, string[]][] = [
    ['a deny rule wins over the group', 'https://notebooks.ml.example.com/', { email: 'former.engineer@example.com', groups: ['ml-engineers'] }, 'deny', ['denied-by-rule', 'email-ok']],
    ['anonymous: sign in', 'https://tf.ml.example.com/v1/models/m:predict', undefined, 'sign-in', ['user-unauthenticated']],
    ['wrong group', 'https://tf.ml.example.com/v1/models/m:predict', { email: 'bob@example.com', groups: ['data-scientists'] }, 'deny', ['groups-unauthorized']],
    ['no route for the host', 'https://unknown.example.com/', alice, 'no-route', ['no-route']],
    ['an ambiguous path is refused as serve would', 'https://notebooks.ml.example.com/a%2fb', alice, 'bad-path', ['encoded-slash']],
    ["Gatehouse's own endpoints are never a route's, even under a catch-all route", 'https://notebooks.ml.example.com/.gatehouse/userinfo', alice, 'reserved', ['gatehouse-endpoint']],
    ["Gatehouse's own endpoints, reached through dot segments", 'https://notebooks.ml.example.com/x/../.gatehouse/readyz', alice, 'reserved', ['gatehouse-endpoint']],
  ];
  for (const [name, url, who, decision, reasons] of cases) {
    test(name, () => {
      const e = explainRequest(CONFIG, 'GET', url, who);
      assert.equal(e.decision, decision);
      assert.deepEqual(e.reasons, reasons);
    });
  }

  test('a URL without a scheme, a bad method or a bad --source-ip is a usage error (exit 2), not a decision', () => {
    let text = '';
    const sink = new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) });
    assert.equal(runExplain(CONFIG, { method: 'GET', url: 'prefect.ml.example.com/api', who: alice, json: false }, sink, sink), 2);
    assert.match(text, /not an absolute http\(s\) URL/);
    assert.equal(runExplain(CONFIG, { method: 'GET', url: 'https://notebooks.ml.example.com/', who: alice, sourceIp: '10.1.2', json: false }, sink, sink), 2);
    assert.match(text, /not an IP address/);
    assert.equal(runExplain(CONFIG, { method: 'G E T', url: 'https://notebooks.ml.example.com/', who: alice, json: false }, sink, sink), 2);
  });

  test('exit codes and JSON output for scripts', () => {
    let text = '';
    const out = new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) });
    assert.equal(runExplain(CONFIG, { method: 'GET', url: 'https://notebooks.ml.example.com/x', who: { ...alice }, json: true }, out, out), 0);
    assert.equal(JSON.parse(text).decision, 'allow');
    assert.equal(runExplain(CONFIG, { method: 'GET', url: 'https://notebooks.ml.example.com/x', who: undefined, json: true }, out, out), 1);
  });
});
