/**
 * Session administration through a running Gatehouse (memory store): the admin API (token or
 * admin group, CSRF for browser sessions, off unless configured), the SCIM 2.0 Users endpoint an
 * IdP deprovisions through, and `gatehouse sessions` reaching the running instance.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { demoLogin, demoLoginUntilAcs, postToAcs } from '../helpers/demo-login.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { signIn, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const ADMIN_TOKEN = `admin-${'a1b2c3d4'.repeat(5)}`;
const SCIM_TOKEN = `scim-${'e5f6a7b8'.repeat(5)}`;
const SCIM = 'application/scim+json';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;

let gh: RunningGatehouse;
let upstream: TestUpstream;
const users = [
  { name: 'alice', email: 'alice@example.com', groups: ['ml-engineers'] },
  { name: 'bob', email: 'bob@example.com', groups: ['ml-engineers'] },
  { name: 'root', email: 'root@example.com', groups: ['gatehouse-admins'] },
  { name: 'dave', email: 'dave@example.com', groups: ['ml-engineers'] },
  { name: 'erin', email: 'erin@example.com', groups: ['ml-engineers'] },
];

before(async () => {
  upstream = await startTestUpstream();
  gh = await startGatehouse({
    config: { demo: true, admin: { token: ADMIN_TOKEN, scim_token: SCIM_TOKEN, groups: ['gatehouse-admins'] } },
    connections: [{ id: 'demo', demo_idp: { users } }],
    routes: [{ name: 'app', path: '/', upstream: upstream.url, allow: [{ authenticated: true }] }],
  });
});
after(async () => {
  await gh.stop();
  await upstream.close();
});

const admin = (path: string, init: RequestInit = {}, token = ADMIN_TOKEN) =>
  fetch(`${gh.url}/.gatehouse/admin/${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers } });
const scim = (path: string, init: RequestInit = {}, token = SCIM_TOKEN) =>
  fetch(`${gh.url}/.gatehouse/scim/v2/${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': SCIM, ...init.headers } });
const app = async (jar: CookieJar) => {
  const res = await jarFetch(jar, `${gh.url}/work`, { headers: { accept: 'application/json' } });
  await res.arrayBuffer();
  return res.status;
};
const idOf = (jar: CookieJar) => jar.get('gatehouse_session')!.split('.')[0]!;

describe('admin API', () => {
  test('lists sessions and revokes one by id with the admin token; the revoked cookie stops working at once', async () => {
    const a = await demoLogin(gh.url, 'alice');
    const b = await demoLogin(gh.url, 'alice');
    const list = (await (await admin('sessions?email=ALICE@example.com')).json()) as { sessions: Array<{ id: string; user: string; email: string; created_at: string }> };
    assert.deepEqual(new Set(list.sessions.map((s) => s.id)), new Set([idOf(a), idOf(b)]));
    assert.equal(list.sessions[0]?.email, 'alice@example.com');
    assert.ok(!JSON.stringify(list).includes(a.get('gatehouse_session')!.split('.')[1]!), 'the cookie key is never shown');
    const res = await admin(`sessions/${idOf(a)}`, { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { revoked: 1, ids: [idOf(a)] });
    assert.equal(await app(a), 401);
    assert.equal(await app(b), 200, 'only that session ended');
    assert.equal((await admin(`sessions/${idOf(a)}`, { method: 'DELETE' })).status, 404);
    const line = gh.logs.find((l) => l.event === 'sessions-revoked').at(-1);
    assert.equal(line?.by, 'token');
    assert.ok(line?.req_id, 'logged with the request id');
  });

  test('revokes every session of a user by email; other users keep theirs', async () => {
    const a1 = await demoLogin(gh.url, 'alice');
    const a2 = await demoLogin(gh.url, 'alice');
    const bob = await demoLogin(gh.url, 'bob');
    const res = await admin('sessions/revoke', { method: 'POST', body: JSON.stringify({ email: 'alice@example.com' }) });
    const body = (await res.json()) as { revoked: number };
    assert.ok(body.revoked >= 2);
    assert.equal(await app(a1), 401);
    assert.equal(await app(a2), 401);
    assert.equal(await app(bob), 200);
  });

  test('refuses a wrong token, no credentials, and a signed-in non-admin (privilege escalation)', async () => {
    assert.equal((await admin('sessions', {}, `${ADMIN_TOKEN}x`)).status, 401);
    assert.equal((await admin('sessions', {}, SCIM_TOKEN)).status, 401, 'the SCIM token is not an admin token');
    assert.equal((await fetch(`${gh.url}/.gatehouse/admin/sessions`)).status, 401);
    const alice = await demoLogin(gh.url, 'alice');
    assert.equal((await jarFetch(alice, `${gh.url}/.gatehouse/admin/sessions`)).status, 403);
  });

  test('an admin-group member may use it from the browser, but a cross-site POST is refused (CSRF)', async () => {
    const root = await demoLogin(gh.url, 'root');
    assert.equal((await jarFetch(root, `${gh.url}/.gatehouse/admin/sessions`)).status, 200);
    const victim = await demoLogin(gh.url, 'bob');
    const body = JSON.stringify({ id: idOf(victim) });
    const cross = await jarFetch(root, `${gh.url}/.gatehouse/admin/sessions/revoke`, { method: 'POST', body, headers: { 'content-type': 'application/json', origin: 'https://evil.example' } });
    assert.equal(cross.status, 403);
    assert.equal(await app(victim), 200);
    const same = await jarFetch(root, `${gh.url}/.gatehouse/admin/sessions/revoke`, { method: 'POST', body, headers: { 'content-type': 'application/json', origin: gh.url } });
    assert.equal(same.status, 200);
    assert.equal(await app(victim), 401);
    assert.equal(gh.logs.find((l) => l.event === 'sessions-revoked').at(-1)?.by, 'user:root@example.com');
  });

  test('bad revoke requests get coded errors (no body, both targets, not JSON, oversized)', async () => {
    for (const body of ['{}', JSON.stringify({ email: 'a@b', id: 'x' }), 'not json']) {
      const res = await admin('sessions/revoke', { method: 'POST', body });
      assert.equal(res.status, 400, body);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'BAD_REQUEST');
    }
    assert.equal((await admin('sessions/revoke', { method: 'POST', body: JSON.stringify({ email: 'x'.repeat(5000) }) })).status, 413);
    assert.equal((await admin('sessions', { method: 'POST' })).status, 405);
  });
});

describe('SCIM 2.0 Users', () => {
  const newUser = (userName: string, active = true) => JSON.stringify({ schemas: [USER_SCHEMA], userName, emails: [{ value: userName, primary: true, type: 'work' }], active, name: { givenName: 'A', familyName: 'B' }, title: 'ignored' });

  test('deprovisioning with PATCH active:false ends every session of the user and refuses new logins until reactivated', async () => {
    const created = await scim('Users', { method: 'POST', body: newUser('alice@example.com') });
    assert.equal(created.status, 201);
    const user = (await created.json()) as { id: string; active: boolean; meta: { location: string } };
    assert.equal(user.active, true);
    assert.equal(created.headers.get('location'), user.meta.location);
    const found = (await (await scim(`Users?filter=${encodeURIComponent('userName eq "Alice@Example.com"')}`)).json()) as { totalResults: number; Resources: Array<{ id: string }> };
    assert.equal(found.totalResults, 1);
    assert.equal(found.Resources[0]?.id, user.id);
    const a1 = await demoLogin(gh.url, 'alice');
    const a2 = await demoLogin(gh.url, 'alice');
    const bob = await demoLogin(gh.url, 'bob');
    // Entra ID sends booleans as strings.
    const patch = await scim(`Users/${user.id}`, { method: 'PATCH', body: JSON.stringify({ schemas: [PATCH_SCHEMA], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] }) });
    assert.equal(patch.status, 200);
    assert.equal(((await patch.json()) as { active: boolean }).active, false);
    assert.equal(await app(a1), 401);
    assert.equal(await app(a2), 401);
    assert.equal(await app(bob), 200, 'other users untouched');
    const steps = await demoLoginUntilAcs(gh.url, 'alice');
    const refused = await postToAcs(steps);
    assert.equal(refused.status, 403, 'a deprovisioned user cannot sign in again');
    assert.equal(gh.logs.find((l) => l.event === 'login-failed').at(-1)?.reason, 'user-deactivated');
    const reactivate = await scim(`Users/${user.id}`, { method: 'PATCH', body: JSON.stringify({ schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', value: { active: true } }] }) });
    assert.equal(reactivate.status, 200);
    assert.equal(await app(await demoLogin(gh.url, 'alice')), 200, 'reactivated: signs in again');
    assert.equal((await scim(`Users/${user.id}`, { method: 'DELETE' })).status, 204);
  });

  test('PUT active:false and DELETE end sessions too; a deleted user cannot sign in', async () => {
    const user = (await (await scim('Users', { method: 'POST', body: newUser('bob@example.com') })).json()) as { id: string };
    const b1 = await demoLogin(gh.url, 'bob');
    assert.equal((await scim(`Users/${user.id}`, { method: 'PUT', body: newUser('bob@example.com', false) })).status, 200);
    assert.equal(await app(b1), 401);
    assert.equal((await scim(`Users/${user.id}`, { method: 'PUT', body: newUser('bob@example.com', true) })).status, 200);
    const b2 = await demoLogin(gh.url, 'bob');
    assert.equal((await scim(`Users/${user.id}`, { method: 'DELETE' })).status, 204);
    assert.equal(await app(b2), 401);
    assert.equal((await scim(`Users/${user.id}`)).status, 404);
    assert.equal((await postToAcs(await demoLoginUntilAcs(gh.url, 'bob'))).status, 403);
  });

  test('a rename before the deactivation still ends the sessions filed under the old name', async () => {
    const user = (await (await scim('Users', { method: 'POST', body: newUser('erin@example.com') })).json()) as { id: string };
    const erin = await demoLogin(gh.url, 'erin');
    const renamed = await scim(`Users/${user.id}`, { method: 'PUT', body: newUser('erin.smith@example.com') });
    assert.equal(renamed.status, 200);
    assert.ok(!JSON.stringify(await renamed.json()).includes('formerNames'), 'former names are kept, not shown');
    assert.equal(await app(erin), 200);
    const off = await scim(`Users/${user.id}`, { method: 'PATCH', body: JSON.stringify({ schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: false }] }) });
    assert.equal(off.status, 200);
    assert.equal(await app(erin), 401);
  });

  test('refuses a wrong or missing token, the admin token, duplicates, bad bodies and unsupported filters', async () => {
    assert.equal((await scim('Users', {}, `${SCIM_TOKEN}x`)).status, 401);
    assert.equal((await scim('Users', {}, ADMIN_TOKEN)).status, 401, 'the admin token is not a SCIM token');
    assert.equal((await fetch(`${gh.url}/.gatehouse/scim/v2/Users`)).status, 401);
    assert.equal((await scim('Users', { method: 'POST', body: newUser('carol@example.com') })).status, 201);
    const dup = await scim('Users', { method: 'POST', body: newUser('CAROL@example.com') });
    assert.equal(dup.status, 409);
    assert.equal(((await dup.json()) as { scimType: string }).scimType, 'uniqueness');
    const bad = await scim('Users', { method: 'POST', body: JSON.stringify({ schemas: [USER_SCHEMA], active: 'maybe' }) });
    assert.equal(bad.status, 400);
    assert.equal((await scim(`Users?filter=${encodeURIComponent('emails co "x"')}`)).status, 400);
    assert.equal((await scim('Users/../../admin/sessions')).status, 404);
    assert.equal((await scim('ServiceProviderConfig')).status, 200);
  });
});

describe('gatehouse sessions (memory store: through the running instance\'s admin API)', () => {
  test('list and revoke by email', async () => {
    const jar = await demoLogin(gh.url, 'dave');
    const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', join(ROOT, 'proxy/main.ts'), 'sessions', ...args, '--config', join(gh.dir, 'gatehouse.yaml')], { cwd: ROOT });
    const listed = await cli('list', '--email', 'dave@example.com');
    assert.match(listed.stdout, new RegExp(idOf(jar)));
    assert.match(listed.stdout, /dave@example\.com/);
    const revoked = await cli('revoke', '--email', 'dave@example.com', '--json');
    assert.ok((JSON.parse(revoked.stdout) as { ids: string[] }).ids.includes(idOf(jar)));
    assert.equal(await app(jar), 401);
    await assert.rejects(cli('revoke'), (err: { code?: number; stderr?: string }) => err.code === 2 && /exactly one of --email/.test(err.stderr ?? ''));
  });
});

test('the admin API and SCIM do not answer on an application\'s host (its scripts would share the admin\'s origin)', async () => {
  const onAppHost = await startGatehouse({
    config: { demo: true, admin: { token: ADMIN_TOKEN, scim_token: SCIM_TOKEN } },
    connections: [{ id: 'demo', demo_idp: { users } }],
    routes: [{ name: 'app', host: 'notebooks.test', upstream: upstream.url, allow: [{ authenticated: true }] }],
  });
  try {
    const status = (host: string, path: string, token: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${onAppHost.url}${path}`, { headers: { host, authorization: `Bearer ${token}` } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject).end();
      });
    assert.equal(await status('notebooks.test', '/.gatehouse/admin/sessions', ADMIN_TOKEN), 404);
    assert.equal(await status('notebooks.test', '/.gatehouse/scim/v2/Users', SCIM_TOKEN), 404);
    assert.equal(await status(new URL(onAppHost.url).host, '/.gatehouse/admin/sessions', ADMIN_TOKEN), 200, 'Gatehouse\'s own host');
  } finally {
    await onAppHost.stop();
  }
});

test('admin groups count only from the trusted connections (another IdP asserting the group name gains no admin rights)', async () => {
  const two = await startGatehouse({
    config: { demo: true, admin: { groups: ['gatehouse-admins'], connections: ['corp'] } },
    files: { 'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }) },
    connections: [{ id: 'demo', demo_idp: { users } }, { id: 'corp', idp_metadata_file: 'idp.xml' }],
    routes: [{ name: 'app', path: '/', upstream: upstream.url, allow: [{ authenticated: true }] }],
  });
  try {
    const fromDemo = await demoLogin(two.url, 'root');
    assert.equal((await jarFetch(fromDemo, `${two.url}/.gatehouse/admin/sessions`)).status, 403);
    const fromCorp = await signIn(two.url, 'corp', 'root@example.com', ['gatehouse-admins']);
    assert.equal((await jarFetch(fromCorp, `${two.url}/.gatehouse/admin/sessions`)).status, 200);
  } finally {
    await two.stop();
  }
});

test('the admin API and SCIM are off (404) unless configured', async () => {
  const plain = await startGatehouse({ config: { demo: true }, connections: [{ id: 'demo', demo_idp: { users } }], routes: [{ name: 'app', path: '/', upstream: upstream.url, allow: [{ authenticated: true }] }] });
  try {
    assert.equal((await fetch(`${plain.url}/.gatehouse/admin/sessions`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status, 404);
    assert.equal((await fetch(`${plain.url}/.gatehouse/scim/v2/Users`, { headers: { authorization: `Bearer ${SCIM_TOKEN}` } })).status, 404);
  } finally {
    await plain.stop();
  }
});
