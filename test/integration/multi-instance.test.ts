/**
 * Two Gatehouse processes (A and B) behind one public URL, sharing one spawned `redis-server`:
 * the same config except the listen port, as two replicas behind a load balancer. The test plays
 * the IdP (signing with the test keys). What this protects: a login may start on one instance and
 * finish on the other, an assertion used once is refused everywhere, and every way a session ends
 * (admin revocation, SCIM deactivation, logout) reaches the other instance at once, even when it
 * had the session in its cache a moment before.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { idpMetadataXml } from '../helpers/gatehouse.js';
import { startGatehouseProcess, type GatehouseProcess, type LogLine } from '../helpers/gatehouse-process.js';
import { freePort } from '../helpers/free-port.js';
import { redisSkipReason, startRedis, type RunningRedis } from '../helpers/redis-server.js';
import { buildSignedResponseXml, encodeResponse } from '../helpers/saml-idp-signer.js';
import { genuineResponseXml, postResponse, startSpLogin, TEST_IDP, type StartedLogin } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const skip = redisSkipReason();
if (skip && process.env.GATEHOUSE_E2E_REQUIRED === '1') throw new Error(skip);

const SECRET = `multi-instance-${'0123456789abcdef'.repeat(3)}`;
const ADMIN_TOKEN = `admin-${'a1b2c3d4'.repeat(5)}`;
const SCIM_TOKEN = `scim-${'e5f6a7b8'.repeat(5)}`;
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const COOKIE = 'gatehouse_session';
const POLL_MS = 50;
const PROPAGATION_LIMIT_MS = 1_000;

let redis: RunningRedis | undefined;
let upstream: TestUpstream | undefined;
let a: GatehouseProcess | undefined;
let b: GatehouseProcess | undefined;
/** The one public URL both instances share (A's address, as a load balancer's would be). */
let publicUrl = '';
/** Measured propagation times, printed at the end for the report. */
const measured: Record<string, number> = {};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const A = () => a!;
const B = () => b!;

/** The login as the IdP sees it: Destination, Recipient and Audience come from the public URL. */
async function startLoginOn(inst: GatehouseProcess, jar?: CookieJar, connection = 'lab'): Promise<StartedLogin> {
  const login = await startSpLogin(inst.url, connection, jar ? { jar } : {});
  return { ...login, acsUrl: `${publicUrl}/.gatehouse/saml/${connection}/acs`, spEntityId: `${publicUrl}/.gatehouse/saml/${connection}/metadata` };
}

/** Where a browser's POST to the ACS lands when the load balancer picks `inst`. */
const acsOn = (inst: GatehouseProcess, connection = 'lab') => `${inst.url}/.gatehouse/saml/${connection}/acs`;

/** Signs `email` in: login started on `start`, response posted to `finish`. */
async function signIn(start: GatehouseProcess, finish: GatehouseProcess, email: string): Promise<CookieJar> {
  const login = await startLoginOn(start);
  const res = await postResponse(login, genuineResponseXml(login, email), { acsUrl: acsOn(finish) });
  assert.equal(res.status, 303, `sign-in of ${email} (${start.name} -> ${finish.name}): ${await res.text()}`);
  assert.ok(login.jar.get(COOKIE), 'a session cookie was set');
  return login.jar;
}

/** A routed API request with this cookie; returns the status (body consumed). */
async function appStatus(inst: GatehouseProcess, cookie: string): Promise<number> {
  const res = await fetch(`${inst.url}/ml/x`, { headers: { cookie: `${COOKIE}=${cookie}`, accept: 'application/json' }, redirect: 'manual', signal: AbortSignal.timeout(3_000) });
  await res.arrayBuffer();
  return res.status;
}

/** Asserts a routed request with this cookie reaches the upstream as `user`. */
async function assertServed(inst: GatehouseProcess, cookie: string, user: string): Promise<void> {
  const before = upstream!.seen.length;
  const res = await fetch(`${inst.url}/ml/x`, { headers: { cookie: `${COOKIE}=${cookie}`, accept: 'application/json' }, redirect: 'manual' });
  assert.equal(res.status, 200, `${inst.name}: ${await res.text()}`);
  assert.equal(upstream!.seen.length, before + 1, 'the request reached the upstream');
  assert.equal(upstream!.seen.at(-1)!.headers['x-forwarded-user'], user);
}

/** Polls `inst` every 50 ms until the cookie is refused (401); returns ms since `since`, or throws after 3 s. */
async function msUntilRefused(inst: GatehouseProcess, cookie: string, since: number): Promise<number> {
  const deadline = since + 3_000;
  for (;;) {
    const status = await appStatus(inst, cookie);
    if (status === 401) return performance.now() - since;
    assert.equal(status, 200, `${inst.name}: only 200 or 401 expected while the end propagates`);
    if (performance.now() > deadline) assert.fail(`${inst.name} still served the ended session after 3 s`);
    await sleep(POLL_MS);
  }
}

const admin = (inst: GatehouseProcess, path: string, init: RequestInit = {}) =>
  fetch(`${inst.url}/.gatehouse/admin/${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...init.headers } });
const scim = (inst: GatehouseProcess, path: string, init: RequestInit = {}) =>
  fetch(`${inst.url}/.gatehouse/scim/v2/${path}`, { ...init, headers: { authorization: `Bearer ${SCIM_TOKEN}`, 'content-type': 'application/scim+json', ...init.headers } });

/** The login-failed line an instance logged for one response (by its X-Request-Id). */
function loginFailedLine(inst: GatehouseProcess, res: Response): Promise<LogLine> {
  const id = res.headers.get('x-request-id');
  assert.ok(id, 'the refusal carries a request id');
  return inst.waitForLog((l) => l.event === 'login-failed' && l.req_id === id);
}

async function assertLoginRefused(res: Response): Promise<void> {
  const body = await res.text();
  assert.equal(res.status, 403, body);
  assert.match(body, /SAML_LOGIN_FAILED/);
  assert.ok(!res.headers.getSetCookie().some((c) => c.startsWith(`${COOKIE}=`)), 'no session cookie');
}

describe('two Gatehouse instances sharing one Redis', { skip }, () => {
  before(async () => {
    redis = await startRedis();
    upstream = await startTestUpstream();
    const [portA, portB] = [await freePort(), await freePort()];
    publicUrl = `http://127.0.0.1:${portA}`;
    const config = (port: number) => ({
      server: { listen: `127.0.0.1:${port}`, public_url: publicUrl, watch_policies: false },
      session: { store: redis!.url, secret: SECRET, cache: { ttl: '5s' } },
      admin: { token: ADMIN_TOKEN, scim_token: SCIM_TOKEN },
      saml: {
        connections: [
          { id: 'lab', idp_metadata_file: 'idp.xml' },
          { id: 'open', idp_metadata_file: 'idp.xml', idp_initiated: 'accept', default_redirect: '/ml/home' },
        ],
      },
    });
    const shared = {
      files: { 'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }) },
      policies: { 'routes.yaml': { routes: [{ name: 'ml', path: '/ml', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] }] } },
    };
    [a, b] = await Promise.all([
      startGatehouseProcess({ ...shared, name: 'A', port: portA, config: config(portA) }),
      startGatehouseProcess({ ...shared, name: 'B', port: portB, config: config(portB) }),
    ]);
  });

  after(async () => {
    const crashed = [a, b].filter((p) => p?.exitedUnexpectedly).map((p) => `${p!.name} (code ${p!.exitCode}, signal ${p!.signal})\n${p!.output()}`);
    await Promise.all([a?.stop(), b?.stop()]);
    await upstream?.close();
    await redis?.stop();
    if (Object.keys(measured).length) console.log(`# propagation times (ms): ${JSON.stringify(measured)}`);
    assert.deepEqual(crashed, [], 'no instance exited on its own');
  });

  test('a login started on A finishes on B, and the session works on both instances', async () => {
    const login = await startLoginOn(A());
    assert.ok(login.jar.get('gatehouse_login'), 'A bound the login to this browser');
    const res = await postResponse(login, genuineResponseXml(login, 'alice@example.com'), { acsUrl: acsOn(B()) });
    assert.equal(res.status, 303, await res.text());
    assert.equal(res.headers.get('location'), '/');
    const cookie = login.jar.get(COOKIE);
    assert.ok(cookie, 'B started a session');
    await assertServed(A(), cookie, 'alice@example.com');
    await assertServed(B(), cookie, 'alice@example.com');
    await B().waitForLog((l) => l.event === 'login' && l.user === 'alice@example.com');
    assert.equal(A().find((l) => l.event === 'login').length, 0, 'A only started the login');
  });

  test('an assertion used on A is refused when replayed to B (replay cache shared)', async () => {
    // IdP-initiated: no pending login to consume, so only the shared replay cache stands in the way.
    const acs = `${publicUrl}/.gatehouse/saml/open/acs`;
    const xml = buildSignedResponseXml({ idpEntityId: TEST_IDP.entityId, spEntityId: `${publicUrl}/.gatehouse/saml/open/metadata`, acsUrl: acs, nameId: 'replay@example.com', attributes: { email: ['replay@example.com'], groups: ['ml-engineers'] } });
    const post = (inst: GatehouseProcess) => jarFetch(new CookieJar(), acsOn(inst, 'open'), { method: 'POST', body: new URLSearchParams({ SAMLResponse: encodeResponse(xml) }) });
    const first = await post(A());
    assert.equal(first.status, 303, await first.text());
    const replayed = await post(B());
    await assertLoginRefused(replayed);
    assert.equal((await loginFailedLine(B(), replayed)).reason, 'assertion-replayed');

    // SP-initiated: the same response posted again to B after A accepted it is refused too.
    const login = await startLoginOn(B());
    const response = genuineResponseXml(login, 'replay@example.com');
    assert.equal((await postResponse(login, response, { acsUrl: acsOn(A()) })).status, 303);
    const again = await postResponse(login, response, { acsUrl: acsOn(B()) });
    await assertLoginRefused(again);
    assert.match(String((await loginFailedLine(B(), again)).reason), /relay-state-unknown|assertion-replayed/);
  });

  test('revoke on B (admin API): A refuses the cookie it had just served from its cache within one second', async () => {
    const jar = await signIn(A(), A(), 'carol@example.com');
    const cookie = jar.get(COOKIE)!;
    await assertServed(A(), cookie, 'carol@example.com'); // A now has it cached (ttl 5 s)
    await assertServed(A(), cookie, 'carol@example.com');
    const t0 = performance.now();
    const res = await admin(B(), 'sessions/revoke', { method: 'POST', body: JSON.stringify({ email: 'carol@example.com' }) });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { revoked: number; ids: string[] };
    assert.deepEqual(body, { revoked: 1, ids: [cookie.split('.')[0]] });
    const ms = await msUntilRefused(A(), cookie, t0);
    measured['revoke-on-B-refused-on-A'] = Math.round(ms);
    assert.ok(ms < PROPAGATION_LIMIT_MS, `A refused after ${ms.toFixed(0)} ms`);
    assert.equal(await appStatus(B(), cookie), 401);
    await B().waitForLog((l) => l.event === 'sessions-revoked' && l.by === 'token');
  });

  test('SCIM deactivation sent to B ends the user\'s sessions on A and B and refuses new logins; other users keep theirs', async () => {
    const created = await scim(B(), 'Users', {
      method: 'POST',
      body: JSON.stringify({ schemas: [USER_SCHEMA], userName: 'dave@example.com', emails: [{ value: 'dave@example.com', primary: true }], active: true }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const { id } = (await created.json()) as { id: string };
    assert.ok(id);

    const dave1 = (await signIn(A(), A(), 'dave@example.com')).get(COOKIE)!;
    const dave2 = (await signIn(B(), B(), 'dave@example.com')).get(COOKIE)!;
    const erin = (await signIn(A(), B(), 'erin@example.com')).get(COOKIE)!;
    // Every session in both caches before the deactivation.
    for (const inst of [A(), B()]) {
      await assertServed(inst, dave1, 'dave@example.com');
      await assertServed(inst, dave2, 'dave@example.com');
      await assertServed(inst, erin, 'erin@example.com');
    }

    const t0 = performance.now();
    const patched = await scim(B(), `Users/${id}`, {
      method: 'PATCH',
      body: JSON.stringify({ schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: false }] }),
    });
    assert.equal(patched.status, 200, await patched.clone().text());
    assert.equal(((await patched.json()) as { active: boolean }).active, false);
    const times = await Promise.all([A(), B()].flatMap((inst) => [dave1, dave2].map((c) => msUntilRefused(inst, c, t0))));
    measured['scim-on-B-refused-everywhere'] = Math.round(Math.max(...times));
    for (const ms of times) assert.ok(ms < PROPAGATION_LIMIT_MS, `refused after ${ms.toFixed(0)} ms`);
    await assertServed(A(), erin, 'erin@example.com');
    await assertServed(B(), erin, 'erin@example.com');
    const line = await B().waitForLog((l) => l.event === 'sessions-revoked' && l.by === 'scim');
    assert.equal(line.count, 2);

    // The IdP may still send an assertion for dave: A refuses to start a session from it.
    const login = await startLoginOn(A());
    const res = await postResponse(login, genuineResponseXml(login, 'dave@example.com'), { acsUrl: acsOn(A()) });
    await assertLoginRefused(res);
    assert.equal((await loginFailedLine(A(), res)).reason, 'user-deactivated');
  });

  test('logout on A ends the session on B within one second', async () => {
    const jar = await signIn(B(), A(), 'frank@example.com');
    const cookie = jar.get(COOKIE)!;
    await assertServed(B(), cookie, 'frank@example.com'); // B has it cached
    await assertServed(A(), cookie, 'frank@example.com');
    const t0 = performance.now();
    const res = await jarFetch(jar, `${A().url}/.gatehouse/logout`, { method: 'POST', headers: { origin: new URL(publicUrl).origin, accept: 'application/json' } });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { signed_out: true, cli_sessions_ended: 0 });
    assert.equal(jar.get(COOKIE), undefined, 'the cookie is cleared');
    const ms = await msUntilRefused(B(), cookie, t0);
    measured['logout-on-A-refused-on-B'] = Math.round(ms);
    assert.ok(ms < PROPAGATION_LIMIT_MS, `B refused after ${ms.toFixed(0)} ms`);
    assert.equal(await appStatus(A(), cookie), 401);
    await A().waitForLog((l) => l.event === 'logout' && l.user === 'frank@example.com');
  });
});
