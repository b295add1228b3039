/**
 * `gatehouse policy diff`: who gains and who loses access between two policy sets, decided as
 * serve would over requests derived from both sets; exit 0 unchanged, 1 changed, 2 on errors.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { diffPolicies, runPolicyDiff } from '../../proxy/cli/policy-diff.js';
import { policyFileSchema } from '../../proxy/config/policy-schema.js';
import { compileRoutes } from '../../proxy/policy/compile.js';
import { ANY_HOST, probeRequests } from '../../proxy/policy/probes.js';

const route = (allow: string, extra = '') => `routes:
  - name: api
    host: api.example.com
    path: /api
    upstream: http://127.0.0.1:9
    allow:
${allow}${extra}
`;
const OLD = route('      - { groups: [engineers] }\n      - { groups: [readers], methods: [GET] }');
const NEW = route('      - { groups: [engineers, readers] }');
const IDENTITIES = `identities:
  eve: { email: eve@example.com, groups: [engineers] }
  rita: { email: rita@example.com, groups: [readers] }
  carol: { email: carol@example.com }
`;

let dir = '';
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

function run(oldPath: string, newPath: string, identities: string, json = false): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const o = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
  const e = new Writable({ write: (c, _e, cb) => ((err += String(c)), cb()) });
  const code = runPolicyDiff({ old: oldPath, new: newPath, identities, json }, o, e);
  return { code, out, err };
}

describe('gatehouse policy diff', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gh-policy-diff-'));
    file('old.yaml', OLD);
    file('new.yaml', NEW);
    file('ids.yaml', IDENTITIES);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a gain is detected: readers may now write', () => {
    const d = diffPolicies(join(dir, 'old.yaml'), join(dir, 'new.yaml'), join(dir, 'ids.yaml'));
    const gains = d.changes.filter((c) => c.kind === 'gain');
    assert.ok(gains.length > 0);
    assert.ok(gains.every((c) => c.who === 'rita' && c.method !== 'GET'), JSON.stringify(gains.map((c) => [c.who, c.method])));
    assert.deepEqual(new Set(gains.map((c) => c.method)), new Set(['POST', 'PUT', 'PATCH', 'DELETE']));
    assert.deepEqual(d.changes.filter((c) => c.kind !== 'gain'), []);
    const r = run(join(dir, 'old.yaml'), join(dir, 'new.yaml'), join(dir, 'ids.yaml'));
    assert.equal(r.code, 1);
    assert.match(r.out, /^\+ rita +POST https:\/\/api\.example\.com\/api +deny \(api: .*groups-unauthorized.*\) -> allow \(api, allow\[0\]\)$/m);
    assert.match(r.out, /\n\n8 gained, 0 lost, 0 other change\(s\); 10 request\(s\) x 4 identities \(anonymous, carol, eve, rita\)\n$/);
  });

  test('a loss is detected, the other way round', () => {
    const r = run(join(dir, 'new.yaml'), join(dir, 'old.yaml'), join(dir, 'ids.yaml'));
    assert.equal(r.code, 1);
    assert.match(r.out, /^- rita +DELETE https:\/\/api\.example\.com\/api +allow \(api, allow\[0\]\) -> deny \(api: /m);
    assert.doesNotMatch(r.out, /^[+~]/m);
    assert.doesNotMatch(r.out, /^- (eve|carol|anonymous) /m, 'the others keep what they had');
  });

  test('identical sets: exit 0, nothing listed', () => {
    const r = run(join(dir, 'old.yaml'), join(dir, 'old.yaml'), join(dir, 'ids.yaml'));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^no change: \d+ request\(s\) x 4 identities \(anonymous, carol, eve, rita\) decided the same\n$/);
  });

  test('directories: every *.yaml directly inside, not sub-directories', () => {
    for (const d of ['a', 'b', 'b/tests']) mkdirSync(join(dir, d), { recursive: true });
    file('a/api.yaml', OLD);
    file('b/api.yaml', OLD);
    file('b/tests/not-a-policy.yaml', 'cases: []\n');
    assert.equal(run(join(dir, 'a'), join(dir, 'b'), join(dir, 'ids.yaml')).code, 0);
    file('b/extra.yaml', 'routes:\n  - name: extra\n    host: extra.example.com\n    upstream: http://127.0.0.1:9\n    allow: [ { authenticated: true } ]\n');
    const r = run(join(dir, 'a'), join(dir, 'b'), join(dir, 'ids.yaml'));
    assert.equal(r.code, 1);
    assert.match(r.out, /^\+ carol +GET https:\/\/extra\.example\.com\/ +no-route -> allow \(extra, allow\[0\]\)$/m);
    assert.match(r.out, /^~ anonymous +GET https:\/\/extra\.example\.com\/ +no-route -> sign-in \(extra\)$/m);
  });

  test('changes between refusals are listed too: sign-in, deny, no-route, method-not-allowed', () => {
    file('gone.yaml', 'routes:\n  - name: other\n    host: other.example.com\n    upstream: http://127.0.0.1:9\n    allow: [ { public: true } ]\n');
    const r = run(join(dir, 'old.yaml'), join(dir, 'gone.yaml'), join(dir, 'ids.yaml'));
    assert.match(r.out, /^~ anonymous +GET https:\/\/api\.example\.com\/api +sign-in \(api\) -> no-route$/m);
    assert.match(r.out, /^~ carol +GET https:\/\/api\.example\.com\/api +deny \(api: groups-unauthorized\) -> no-route$/m);
    assert.match(r.out, /^- eve +GET https:\/\/api\.example\.com\/api +allow \(api, allow\[0\]\) -> no-route$/m);
    assert.match(r.out, /^\+ anonymous +GET https:\/\/other\.example\.com\/ +no-route -> allow \(other, allow\[0\]\)$/m);
    file('get-only.yaml', OLD.replace('    path: /api\n', '    path: /api\n    methods: [GET]\n'));
    const m = run(join(dir, 'old.yaml'), join(dir, 'get-only.yaml'), join(dir, 'ids.yaml'));
    assert.match(m.out, /^- eve +POST https:\/\/api\.example\.com\/api +allow \(api, allow\[0\]\) -> method-not-allowed \(allows GET, HEAD\)$/m);
  });

  test('the same access through another upstream is a change', () => {
    file('moved.yaml', OLD.replace('http://127.0.0.1:9', 'http://10.0.0.9:8080'));
    const r = run(join(dir, 'old.yaml'), join(dir, 'moved.yaml'), join(dir, 'ids.yaml'));
    assert.equal(r.code, 1);
    assert.match(r.out, /^~ eve +GET https:\/\/api\.example\.com\/api +allow \(api, allow\[0\] to http:\/\/127\.0\.0\.1:9\/\) -> allow \(api, allow\[0\] to http:\/\/10\.0\.0\.9:8080\/\)$/m);
  });

  test('extra requests from the identities file are probed; --json for scripts, sorted', () => {
    file('deep.yaml', `${OLD}    deny:\n      - { paths: [/api/secret], not: { groups: [admins] } }\n`);
    file('ids-extra.yaml', `${IDENTITIES}requests:\n  - GET https://api.example.com/api/secret/x?y=1\n`);
    const d = diffPolicies(join(dir, 'old.yaml'), join(dir, 'deep.yaml'), join(dir, 'ids-extra.yaml'));
    assert.ok(d.changes.some((c) => c.url === 'https://api.example.com/api/secret/x?y=1' && c.who === 'eve' && c.kind === 'loss'));
    assert.ok(d.changes.some((c) => c.url === 'https://api.example.com/api/secret/sample' && c.method === 'POST'), 'rule paths are probed, with a sub-path');
    const r = run(join(dir, 'old.yaml'), join(dir, 'deep.yaml'), join(dir, 'ids-extra.yaml'), true);
    assert.equal(r.code, 1);
    const json = JSON.parse(r.out) as { requests: number; summary: { lost: number }; changes: { kind: string; who: string; url: string; method: string; after: { decision: string; rule: string } }[] };
    assert.equal(json.summary.lost, json.changes.filter((c) => c.kind === 'loss').length);
    assert.ok(json.changes.every((c) => c.after.decision === 'deny' && c.after.rule === 'deny[0]'));
    const keys = json.changes.map((c) => [c.kind, c.who, c.url, c.method]);
    const byTuple = (x: string[], y: string[]) => x.reduce((acc, v, i) => acc || (v < y[i]! ? -1 : v > y[i]! ? 1 : 0), 0);
    assert.deepEqual(keys, [...keys].sort(byTuple), 'deterministic order: kind, who, URL, method');
    assert.equal(run(join(dir, 'old.yaml'), join(dir, 'deep.yaml'), join(dir, 'ids-extra.yaml'), true).out, r.out);
  });

  test('errors exit 2 with file:line: a missing path, an invalid identities file', () => {
    file('bad-ids.yaml', 'identities:\n  eve: { emails: [eve@example.com] }\nrequests: ["GET /relative"]\n');
    const r = run(join(dir, 'nope'), join(dir, 'old.yaml'), join(dir, 'bad-ids.yaml'));
    assert.equal(r.code, 2);
    assert.match(r.err, /nope:0 \(root\): no such file or directory/);
    assert.match(r.err, /bad-ids\.yaml:2 identities\.eve\.emails: unknown key/);
    assert.match(r.err, /bad-ids\.yaml:3 requests\[0\]: "GET \/relative" is not a request/);
    mkdirSync(join(dir, 'empty'), { recursive: true });
    assert.match(run(join(dir, 'empty'), join(dir, 'old.yaml'), join(dir, 'ids.yaml')).err, /no policy file matches "\*\.yaml"/);
  });
});

describe('probe requests', () => {
  const compile = (routes: Record<string, unknown>[]) => compileRoutes([{ file: 'p.yaml', policy: policyFileSchema.parse({ routes }), routeLines: routes.map(() => 1) }]);

  test('hosts, paths and methods each route describes, sorted, no duplicates', () => {
    const routes = compile([
      { name: 'w', host: '*.ml.example.com', path: '/v1/models/*:predict', methods: ['POST'], upstream: 'http://h/', allow: [{ groups: ['a'] }] },
      { name: 'any', path: '/', upstream: 'http://h/', allow: [{ groups: ['a'] }], deny: [{ paths: ['/admin/**/keys'], methods: ['OPTIONS'], not: { groups: ['b'] } }] },
      { name: 'x', host: 'x.example.com:8443', path_exact: '/healthz', methods: ['GET'], upstream: 'http://h/', allow: [{ public: true }] },
    ]);
    const probes = probeRequests(routes).map((p) => `${p.method} ${p.url}`);
    assert.deepEqual(probes.filter((p) => p.includes('ml.example.com')), ['POST https://sample.ml.example.com/v1/models/sample:predict']);
    assert.deepEqual(probes.filter((p) => p.includes('x.example.com')), ['GET https://x.example.com:8443/healthz']);
    const any = probes.filter((p) => p.includes(ANY_HOST));
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) assert.ok(any.includes(`${method} https://${ANY_HOST}/`), method);
    assert.ok(any.includes(`GET https://${ANY_HOST}/sample`));
    assert.ok(any.includes(`DELETE https://${ANY_HOST}/admin/sample/keys`));
    assert.ok(any.includes(`DELETE https://${ANY_HOST}/admin/sample/sample/keys`));
    assert.ok(!probes.some((p) => p.startsWith('HEAD ')), 'HEAD is decided as GET: no separate probe');
    assert.equal(new Set(probes).size, probes.length);
  });
});
