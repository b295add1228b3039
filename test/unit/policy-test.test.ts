/**
 * `gatehouse policy test`: cases decide as serve does, failures say why with file:line,
 * uncovered rules and unreached routes are listed, invalid test files are refused with exit 2.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { runPolicyTest, testPolicies } from '../../proxy/cli/policy-test.js';
import { ConfigError } from '../../proxy/config/problems.js';

const POLICY = `routes:
  - name: api
    host: api.example.com
    path: /api
    upstream: http://127.0.0.1:9
    allow:
      - { groups: [engineers] }
      - { groups: [readers], methods: [GET] }
    deny:
      - { paths: [/api/admin], not: { groups: [admins] } }
  - name: health
    host: api.example.com
    path_exact: /health
    upstream: http://127.0.0.1:9
    allow:
      - { public: true }
`;

const HEAD = `policies: [policy.yaml]
identities:
  eve: { email: eve@example.com, groups: [engineers] }
  rita: { email: rita@example.com, groups: [readers] }
cases:
`;

let dir = '';
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

function run(...files: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const o = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
  const e = new Writable({ write: (c, _e, cb) => ((err += String(c)), cb()) });
  const code = runPolicyTest(files, o, e);
  return { code, out, err };
}

describe('gatehouse policy test', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gh-policy-test-'));
    file('policy.yaml', POLICY);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('all cases pass: exit 0, one ok line per file', () => {
    const t = file('pass.test.yaml', `${HEAD}  - { name: engineers write, as: eve, request: POST https://api.example.com/api/x, expect: allow, route: api, rule: "allow[0]" }
  - { name: readers read, as: rita, request: GET https://api.example.com/api/x, expect: allow, rule: "allow[1]", reasons: [groups-ok, method-ok] }
`);
    const r = run(t);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /^ok {4}.*pass\.test\.yaml {2}\(2 cases\)$/m);
    assert.match(r.out, /2 case\(s\): 2 passed, 0 failed/);
  });

  test('a failing case gives exit 1 and says why: name, file:line, expected and got', () => {
    const t = file('fail.test.yaml', `${HEAD}  - name: readers write
    as: rita
    request: POST https://api.example.com/api/x
    expect: allow
    rule: allow[1]
`);
    const r = run(t);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /^FAIL {2}readers write {2}\S*fail\.test\.yaml:6$/m);
    assert.match(r.out, /^ {2}as: +rita$/m);
    assert.match(r.out, /^ {2}expected: +allow, rule allow\[1\]$/m);
    assert.match(r.out, /^ {2}got: +deny \(groups-unauthorized, method-unauthorized\), route api at \S*policy\.yaml:2$/m);
    assert.match(r.out, /^ {2}wrong: +decision, rule$/m);
    assert.match(r.out, /1 case\(s\): 0 passed, 1 failed/);
  });

  test('a right decision with the wrong rule, route or reasons fails too', () => {
    const t = file('wrong-rule.test.yaml', `${HEAD}  - { name: c1, as: eve, request: GET https://api.example.com/api/x, expect: allow, rule: "allow[1]" }
  - { name: c2, as: eve, request: GET https://api.example.com/api/x, expect: allow, route: health }
  - { name: c3, as: eve, request: GET https://api.example.com/api/x, expect: allow, reasons: [public] }
`);
    const report = testPolicies([t]);
    assert.deepEqual(report.failures.map((f) => [f.case.name, f.wrong]), [['c1', ['rule']], ['c2', ['route']], ['c3', ['reasons']]]);
    assert.equal(run(t).code, 1);
  });

  test('rules no case decided and routes no case reached are listed with file:line', () => {
    const t = file('partial.test.yaml', `${HEAD}  - { name: engineers write, as: eve, request: POST https://api.example.com/api/x, expect: allow }
  - { name: engineers kept from admin, as: eve, request: GET https://api.example.com/api/admin/x, expect: deny, rule: "deny[0]" }
`);
    const report = testPolicies([t]);
    assert.deepEqual(report.uncoveredRules.map((u) => [u.route, u.rule, u.at.replace(/^.*\//, '')]), [['api', 'allow[1]', 'policy.yaml:8'], ['health', 'allow[0]', 'policy.yaml:16']]);
    assert.deepEqual(report.unreachedRoutes.map((u) => [u.route, u.at.replace(/^.*\//, '')]), [['health', 'policy.yaml:11']]);
    const r = run(t);
    assert.equal(r.code, 0, 'uncovered rules alone do not fail the run');
    assert.match(r.out, /rules no case decided \(2\):\n {2}api {2}allow\[1\] {2}\S*policy\.yaml:8\n {2}health {2}allow\[0\] {2}\S*policy\.yaml:16/);
    assert.match(r.out, /routes no case reached \(1\):\n {2}health {2}\S*policy\.yaml:11/);
  });

  test('a refusal decided by no rule exercises none; a sign-in reaches the route', () => {
    const t = file('refusal.test.yaml', `${HEAD}  - { name: nobody, as: anonymous, request: GET https://api.example.com/health, expect: allow }
  - { name: stranger, as: { groups: [x] }, request: GET https://api.example.com/api, expect: deny }
`);
    const report = testPolicies([t]);
    assert.deepEqual(report.unreachedRoutes, []);
    assert.deepEqual(report.uncoveredRules.map((u) => u.rule), ['deny[0]', 'allow[0]', 'allow[1]']);
  });

  test('coverage is the union over every file of one run', () => {
    const a = file('cov-a.test.yaml', `${HEAD}  - { name: a, as: eve, request: POST https://api.example.com/api/x, expect: allow }
  - { name: b, as: rita, request: GET https://api.example.com/api/x, expect: allow }
`);
    const b = file('cov-b.test.yaml', `${HEAD}  - { name: c, as: eve, request: GET https://api.example.com/api/admin, expect: deny }
  - { name: d, as: anonymous, request: GET https://api.example.com/health, expect: allow }
`);
    assert.deepEqual(testPolicies([a]).uncoveredRules.length, 2);
    const both = testPolicies([a, b]);
    assert.deepEqual([both.uncoveredRules, both.unreachedRoutes], [[], []]);
    assert.match(run(a, b).out, /every rule covered/);
  });

  test('attack-shaped paths are decided as serve answers them, not as a URL parser reads them', () => {
    const t = file('attack.test.yaml', `${HEAD}  - { name: encoded dot segments resolve, as: eve, request: "GET https://api.example.com/api/x/%2e%2e/admin", expect: deny, rule: "deny[0]" }
  - { name: climbing above the root is refused, as: eve, request: "GET https://api.example.com/%2e%2e/%2e%2e/api/x", expect: bad-path, reasons: [path-climbs-above-root] }
  - { name: a backslash is refused, as: eve, request: "GET https://api.example.com/api\\\\admin", expect: bad-path, reasons: [backslash] }
  - { name: an encoded slash is refused, as: eve, request: "GET https://api.example.com/api%2Fadmin", expect: bad-path, reasons: [encoded-slash] }
  - { name: raw non-ASCII is refused, as: eve, request: "GET https://api.example.com/api/é", expect: bad-path }
  - { name: the fragment stays with the client, as: eve, request: "GET https://api.example.com/api/x#/admin", expect: allow }
`);
    const report = testPolicies([t]);
    assert.deepEqual(report.failures.map((f) => [f.case.name, f.got.decision, f.got.reasons]), []);
  });

  test('an unknown key is an error with its file:line: exit 2, no case run', () => {
    const t = file('unknown.test.yaml', `${HEAD}  - name: x
    as: eve
    request: GET https://api.example.com/api
    expect: allow
    expected_rule: allow[0]
`);
    const r = run(t);
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown\.test\.yaml:10 cases\[0\]\.expected_rule: unknown key/);
    assert.match(r.err, /no case was run/);
    assert.equal(r.out, '');
  });

  test('an unknown key inside an identity, inline or named, is an error', () => {
    const t = file('unknown-id.test.yaml', `policies: [policy.yaml]
identities:
  eve: { email: eve@example.com, group: [engineers] }
cases:
  - { name: x, as: { emial: x@example.com }, request: GET https://api.example.com/api, expect: deny }
`);
    assert.throws(() => testPolicies([t]), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(e.problems.map((p) => [p.line, p.key, p.message]), [[3, 'identities.eve.group', 'unknown key'], [5, 'cases[0].as.emial', 'unknown key']]);
      return true;
    });
  });

  test('invalid values and dangling names are reported at once, each with file:line', () => {
    const bad = file('bad.test.yaml', `${HEAD}  - { name: x, as: eve, request: "FETCH api", expect: allowed }
`);
    const r = run(bad);
    assert.equal(r.code, 2);
    assert.match(r.err, /bad\.test\.yaml:6 cases\[0\]\.request: "FETCH api" is not a request/);
    assert.match(r.err, /bad\.test\.yaml:6 cases\[0\]\.expect: one of allow, deny, sign-in/);
    const dangling = file('dangling.test.yaml', `${HEAD}  - { name: x, as: bob, request: GET https://api.example.com/api, expect: allow, route: nope }
  - { name: x, as: eve, request: GET https://api.example.com/api, expect: sign-in, route: api, rule: "allow[9]" }
`);
    const d = run(dangling);
    assert.equal(d.code, 2);
    for (const m of [/:6 cases\[0\]\.as: no identity "bob"/, /:6 cases\[0\]\.route: no route "nope"/, /:7 cases\[1\]\.name: another case is named "x"/, /:7 cases\[1\]\.rule: a sign-in decision has no deciding rule/, /:7 cases\[1\]\.rule: route "api" has no rule allow\[9\]/]) {
      assert.match(d.err, m);
    }
  });

  test('an unreadable test file or a broken policy file exits 2', () => {
    assert.match(run(join(dir, 'missing.test.yaml')).err, /missing\.test\.yaml:0 \(root\): cannot read/);
    file('broken.yaml', 'routes:\n  - name: b\n    upstream: http://127.0.0.1:9\n    allow: [ { groups: [x] } ]\n    timout: 5s\n');
    const t = file('broken-policy.test.yaml', 'policies: [broken.yaml]\ncases:\n  - { name: x, as: anonymous, request: GET https://h/, expect: sign-in }\n');
    const r = run(t);
    assert.equal(r.code, 2);
    assert.match(r.err, /broken\.yaml:5 routes\[0\]\.timout: unknown key/);
    const none = file('no-match.test.yaml', 'policies: [nothing-*.yaml]\ncases:\n  - { name: x, as: anonymous, request: GET https://h/, expect: sign-in }\n');
    assert.match(run(none).err, /no-match\.test\.yaml:1 policies: no policy file matches "nothing-\*\.yaml"/);
  });

  test('exactly one of policies or config', () => {
    const both = file('both.test.yaml', 'policies: [policy.yaml]\nconfig: gatehouse.yaml\ncases:\n  - { name: x, as: anonymous, request: GET https://h/, expect: no-route }\n');
    assert.match(run(both).err, /both\.test\.yaml:2 config: name the policies under test with exactly one of/);
    const neither = file('neither.test.yaml', 'cases:\n  - { name: x, as: anonymous, request: GET https://h/, expect: no-route }\n');
    assert.match(run(neither).err, /neither\.test\.yaml:1 policies: name the policies under test/);
  });

  test('config: the config names the policies and its connections are checked', () => {
    file('gatehouse.yaml', 'saml:\n  connections:\n    - { id: okta, idp_metadata_url: "https://idp.example.com/md" }\npolicies: ["conn-*.yaml"]\n');
    file('conn-a.yaml', 'routes:\n  - name: c\n    upstream: http://127.0.0.1:9\n    allow: [ { connections: [okta], groups: [x] } ]\n');
    const t = file('config.test.yaml', `config: gatehouse.yaml
cases:
  - { name: through okta, as: { groups: [x], connection: okta }, request: GET https://h/, expect: allow, rule: "allow[0]" }
  - { name: no connection given, as: { groups: [x] }, request: GET https://h/, expect: deny, reasons: [connection-unauthorized] }
`);
    const r = run(t);
    assert.equal(r.code, 0, r.out + r.err);
    file('conn-b.yaml', 'routes:\n  - name: d\n    path: /d\n    upstream: http://127.0.0.1:9\n    allow: [ { connections: [okat] } ]\n');
    const bad = run(t);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /conn-b\.yaml:2 routes\[0\]\.allow\[0\]\.connections: no connection "okat"/);
    const missing = file('config-missing.test.yaml', 'config: nope.yaml\ncases:\n  - { name: x, as: anonymous, request: GET https://h/, expect: no-route }\n');
    assert.match(run(missing).err, /config-missing\.test\.yaml:1 config: file not found: nope\.yaml/);
  });
});
