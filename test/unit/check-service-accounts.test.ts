/**
 * `gatehouse check` warns when service accounts reach a route only because an allow rule says
 * `authenticated: true` without naming connections (a policy widened silently by adding accounts).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runCheck } from '../../proxy/cli/check.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-check-sa-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(accounts: string, policy: string): Promise<{ code: number; out: string }> {
  mkdirSync(join(dir, 'policies'), { recursive: true });
  writeFileSync(join(dir, 'gatehouse.yaml'), `demo: true
server: { public_url: "http://127.0.0.1:4180" }
session: {}
saml: { connections: [ { id: lab, idp_metadata_url: "http://127.0.0.1:9/md" } ] }
policies: [ "policies/*.yaml" ]
${accounts}`);
  writeFileSync(join(dir, 'policies', 'routes.yaml'), policy);
  const out: string[] = [];
  const sink = { write: (c: string) => (out.push(String(c)), true) } as unknown as NodeJS.WritableStream;
  const code = await runCheck(join(dir, 'gatehouse.yaml'), sink, sink, { strict: true, offline: true });
  return { code, out: out.join('') };
}

const ROUTES = `routes:
  - name: home
    path: /
    upstream: http://127.0.0.1:9
    allow: [ { authenticated: true } ]
  - name: lab-only
    path: /lab
    upstream: http://127.0.0.1:9
    allow: [ { authenticated: true, connections: [lab] } ]
  - name: by-group
    path: /ml
    upstream: http://127.0.0.1:9
    allow: [ { groups: [ml-engineers] } ]
`;

test('service accounts silently admitted by authenticated: true: a warning at that route only', async () => {
  const r = await run('service_accounts: { ci-deploy: { groups: [deployers] } }\n', ROUTES);
  assert.equal(r.code, 1, `--strict fails on the warning: ${r.out}`);
  assert.match(r.out, /routes\.yaml:\d+ route home\.allow: warning: authenticated: true without connections: also admits the service accounts \(ci-deploy\)/);
  assert.doesNotMatch(r.out, /route lab-only|route by-group/);
});

test('no service accounts: no warning', async () => {
  const r = await run('', ROUTES);
  assert.equal(r.code, 0, r.out);
  assert.doesNotMatch(r.out, /service accounts/);
});
