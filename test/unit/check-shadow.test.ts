/** `gatehouse check` warns about routes another route takes over, at the shadowed route's file:line. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runCheck } from '../../proxy/cli/check.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-check-shadow-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(policy: string, strict = false): Promise<{ code: number; out: string; err: string }> {
  mkdirSync(join(dir, 'policies'), { recursive: true });
  writeFileSync(join(dir, 'gatehouse.yaml'), `demo: true
server: { public_url: "http://127.0.0.1:4180" }
session: {}
saml: { connections: [ { id: lab, idp_metadata_url: "http://127.0.0.1:9/md" } ] }
policies: [ "policies/*.yaml" ]
`);
  writeFileSync(join(dir, 'policies', 'routes.yaml'), policy);
  const out: string[] = [];
  const err: string[] = [];
  const sink = (to: string[]) => ({ write: (c: string) => (to.push(String(c)), true) }) as unknown as NodeJS.WritableStream;
  const code = await runCheck(join(dir, 'gatehouse.yaml'), sink(out), sink(err), { strict, offline: true });
  return { code, out: out.join(''), err: err.join('') };
}

const SHADOWED = `routes:
  - name: models
    path: /v1/models
    upstream: http://127.0.0.1:9
    allow: [ { authenticated: true } ]
  - name: everything-below
    path: /v1/models/**
    upstream: http://127.0.0.1:9
    allow: [ { public: true } ]
`;

test('a broader glob at the same depth taking a prefix route\'s requests is a warning at the shadowed route', async () => {
  const r = await run(SHADOWED);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /routes\.yaml:2 route models: warning: route "everything-below" \(.*routes\.yaml:6\) takes part of route "models"'s requests .* \(e\.g\. GET any-host\.invalid\/v1\/models\/_probe_\)/);
  assert.match(r.out, /1 warning\(s\)/);
  assert.equal((await run(SHADOWED, true)).code, 1, '--strict fails on it');
});

test('a deeper carve-out is intended and not reported', async () => {
  const r = await run(`routes:
  - name: ui
    path: /
    upstream: http://127.0.0.1:9
    allow: [ { authenticated: true } ]
  - name: health
    path_exact: /api/health
    upstream: http://127.0.0.1:9
    allow: [ { public: true } ]
`);
  assert.equal(r.code, 0, r.err);
  assert.doesNotMatch(r.err, /warning/);
});

test('an unquoted wildcard host (a YAML alias) is a located problem with the fix, not a crash', async () => {
  const r = await run(`routes:
  - name: r1
    host: *.ml.example.com
    upstream: http://127.0.0.1:9
    allow: [ { authenticated: true } ]
`);
  assert.equal(r.code, 1);
  assert.match(r.err, /routes\.yaml:3 routes\[0\]\.host: unquoted "\*\.ml\.example\.com" is read as a YAML alias: quote values/);
  assert.doesNotMatch(r.err, /ReferenceError|\n\s+at /, "no stack trace");
});

test('a guard route for any host that a host\'s own route overrides is a warning (it does not apply there)', async () => {
  const r = await run(`routes:
  - name: admin-guard
    path: /admin
    upstream: http://127.0.0.1:9
    allow: [ { groups: [admins] } ]
  - name: app
    host: a.example.com
    upstream: http://127.0.0.1:9
    allow: [ { groups: [a] } ]
`);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /routes\.yaml:2 route admin-guard: warning: route "admin-guard" \(any host\) does not apply on a\.example\.com: .*GET a\.example\.com\/admin goes to "app"/);
});

test('deny paths written relative to the route never hold: a warning names the entry (the delete stays open otherwise)', async () => {
  const r = await run(`routes:
  - name: dbx
    path: /api/2.0
    methods: [GET, POST]
    upstream: http://127.0.0.1:9
    allow: [ { authenticated: true } ]
    deny:
      - { paths: [/clusters/delete], not: { groups: [admins] } }
      - { methods: [DELETE], groups: [contractors] }
`);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /route dbx deny\[0\]: warning: paths entry "\/clusters\/delete" lies outside the route's path "\/api\/2\.0": it can never hold/);
  assert.match(r.err, /route dbx deny\[1\]: warning: methods DELETE are none the route takes/);
  assert.equal((await run(`routes:
  - name: dbx
    path: /api/2.0
    upstream: http://127.0.0.1:9
    allow: [ { authenticated: true } ]
    deny: [ { paths: [/api/2.0/clusters/delete], not: { groups: [admins] } } ]
`)).err.includes('warning'), false, 'whole request paths under the route are fine');
});
