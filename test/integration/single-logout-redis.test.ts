/**
 * Single Logout across instances: two Gatehouse processes (A and B) behind one public URL share a
 * real `redis-server`. An IdP's LogoutRequest received by B ends the named user's sessions that A
 * created and had in its cache a moment before (found through the NameID index, announced to
 * every instance), and leaves another user's session alone; with a SessionIndex, only that login.
 */
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { after, before, describe, test } from 'node:test';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { freePort } from '../helpers/free-port.js';
import { startGatehouseProcess, type GatehouseProcess } from '../helpers/gatehouse-process.js';
import { redisSkipReason, startRedis, type RunningRedis } from '../helpers/redis-server.js';
import { idpMetadataWithSlo, logoutRequestXml, postField, readRedirect, redirectQuery } from '../helpers/saml-logout-idp.js';
import { genuineResponseXml, postResponse, startSpLogin, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS, SP_KEYS } from '../helpers/test-keys.js';

const skip = redisSkipReason();
if (skip && process.env.GATEHOUSE_E2E_REQUIRED === '1') throw new Error(skip);

const SECRET = `single-logout-${'0123456789abcdef'.repeat(3)}`;
const IDP_SLO = 'https://idp.test.example/slo';
const COOKIE = 'gatehouse_session';

describe('Single Logout on two instances sharing Redis', { skip }, () => {
  let redis: RunningRedis | undefined;
  let a: GatehouseProcess | undefined;
  let b: GatehouseProcess | undefined;
  let publicUrl = '';

  before(async () => {
    redis = await startRedis();
    const [portA, portB] = [await freePort(), await freePort()];
    publicUrl = `http://127.0.0.1:${portA}`;
    const config = (port: number) => ({
      server: { listen: `127.0.0.1:${port}`, public_url: publicUrl, watch_policies: false },
      session: { store: redis!.url, secret: SECRET, cache: { ttl: '5s' } },
      saml: { sp_keys: [{ key_file: 'sp.key', cert_file: 'sp.crt' }], connections: [{ id: 'lab', idp_metadata_file: 'idp.xml' }] },
    });
    const shared = {
      files: { 'idp.xml': idpMetadataWithSlo({ ...TEST_IDP, sloUrl: IDP_SLO, certBase64s: [IDP_KEYS.certBase64] }), 'sp.key': SP_KEYS.privateKeyPem, 'sp.crt': SP_KEYS.certPem },
      policies: { 'routes.yaml': { routes: [{ name: 'app', path: '/', upstream: 'http://127.0.0.1:9', allow: [{ authenticated: true }] }] } },
    };
    [a, b] = await Promise.all([
      startGatehouseProcess({ ...shared, name: 'A', port: portA, config: config(portA), startTimeoutMs: 60_000 }),
      startGatehouseProcess({ ...shared, name: 'B', port: portB, config: config(portB), startTimeoutMs: 60_000 }),
    ]);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  /** Signs in on A (public URL = A's), with a known SessionIndex. */
  async function signIn(email: string, sessionIndex: string): Promise<string> {
    const login = await startSpLogin(a!.url, 'lab');
    const res = await postResponse(login, genuineResponseXml({ ...login, acsUrl: `${publicUrl}/.gatehouse/saml/lab/acs`, spEntityId: `${publicUrl}/.gatehouse/saml/lab/metadata` }, email, { sessionIndex }));
    assert.equal(res.status, 303, await res.text());
    return login.jar.get(COOKIE)!;
  }

  async function works(inst: GatehouseProcess, cookie: string): Promise<boolean> {
    const res = await fetch(`${inst.url}/.gatehouse/userinfo`, { headers: { cookie: `${COOKIE}=${cookie}` } });
    await res.arrayBuffer();
    return res.status === 200;
  }

  /** Polls until the cookie is refused on `inst` (at most 1 s: announcements are immediate). */
  async function endsOn(inst: GatehouseProcess, cookie: string): Promise<boolean> {
    const deadline = Date.now() + 1_000;
    while (Date.now() < deadline) {
      if (!(await works(inst, cookie))) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  const request = (email: string, sessionIndexes?: string[]) =>
    logoutRequestXml({ issuer: TEST_IDP.entityId, destination: `${publicUrl}/.gatehouse/saml/lab/slo`, nameId: email, ...(sessionIndexes ? { sessionIndexes } : {}) }).xml;

  test('control: a LogoutRequest at B ends every session of that NameID on A and B; another user survives', async () => {
    const alice1 = await signIn('alice@example.com', '_s1');
    const alice2 = await signIn('alice@example.com', '_s2');
    const bob = await signIn('bob@example.com', '_s3');
    for (const c of [alice1, alice2, bob]) assert.ok(await works(a!, c), 'cached on A before the logout');
    const res = await jarFetch(new CookieJar(), `${b!.url}/.gatehouse/saml/lab/slo?${redirectQuery('SAMLRequest', request('alice@example.com'))}`);
    assert.equal(res.status, 302, await res.text());
    assert.ok(readRedirect(res.headers.get('location')!, SP_KEYS.certPem).signatureValid);
    for (const c of [alice1, alice2]) {
      assert.ok(await endsOn(a!, c), 'ended on A (which had it cached)');
      assert.ok(await endsOn(b!, c), 'ended on B');
    }
    assert.ok(await works(a!, bob), "bob's session survives on A");
    assert.ok(await works(b!, bob), "bob's session survives on B");
  });

  test('control: with a SessionIndex (POST at B) only that login ends, on both instances', async () => {
    const first = await signIn('carol@example.com', '_c1');
    const second = await signIn('carol@example.com', '_c2');
    assert.ok(await works(a!, first));
    const res = await jarFetch(new CookieJar(), `${b!.url}/.gatehouse/saml/lab/slo`, { method: 'POST', body: new URLSearchParams({ SAMLRequest: postField(request('carol@example.com', ['_c1'])) }) });
    assert.equal(res.status, 200, await res.text());
    assert.ok(await endsOn(a!, first));
    assert.ok(await works(a!, second), 'the other login of carol survives on A');
    assert.ok(await works(b!, second), 'and on B');
  });

  test('forged logout: an unsigned LogoutRequest at B ends nothing anywhere', async () => {
    const victim = await signIn('dave@example.com', '_d1');
    const res = await jarFetch(new CookieJar(), `${b!.url}/.gatehouse/saml/lab/slo?${redirectQuery('SAMLRequest', request('dave@example.com'), { keys: null })}`);
    assert.equal(res.status, 403);
    await res.arrayBuffer();
    assert.ok(await works(a!, victim));
    assert.ok(await works(b!, victim));
  });

  test('replay across instances: a LogoutRequest accepted by B is refused by A', async () => {
    await signIn('erin@example.com', '_e1');
    const query = redirectQuery('SAMLRequest', request('erin@example.com'));
    const first = await jarFetch(new CookieJar(), `${b!.url}/.gatehouse/saml/lab/slo?${query}`);
    assert.equal(first.status, 302);
    const again = await signIn('erin@example.com', '_e2');
    const replay = await jarFetch(new CookieJar(), `${a!.url}/.gatehouse/saml/lab/slo?${query}`);
    assert.equal(replay.status, 403);
    await replay.arrayBuffer();
    assert.ok(await works(b!, again), 'the next login survives the replay');
  });
});

describe('Single Logout when the session index cannot be read', { skip }, () => {
  let redis: RunningRedis | undefined;
  let admin: Redis | undefined;
  let gh: GatehouseProcess | undefined;
  const PASSWORD = `pw-${'9f8e7d6c'.repeat(4)}`;

  before(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await admin.connect();
    await admin.call('ACL', 'SETUSER', 'gh', 'on', `>${PASSWORD}`, '~*', '&*', '+@all');
    const port = await freePort();
    gh = await startGatehouseProcess({
      name: 'P',
      port,
      startTimeoutMs: 60_000,
      config: {
        server: { listen: `127.0.0.1:${port}`, public_url: `http://127.0.0.1:${port}`, watch_policies: false },
        session: { store: 'redis', redis: { url: redis.url, username: 'gh', password_file: 'redis.pw' }, secret: SECRET },
        saml: { sp_keys: [{ key_file: 'sp.key', cert_file: 'sp.crt' }], connections: [{ id: 'lab', idp_metadata_file: 'idp.xml' }] },
      },
      files: { 'idp.xml': idpMetadataWithSlo({ ...TEST_IDP, sloUrl: IDP_SLO, certBase64s: [IDP_KEYS.certBase64] }), 'sp.key': SP_KEYS.privateKeyPem, 'sp.crt': SP_KEYS.certPem, 'redis.pw': PASSWORD },
      policies: { 'routes.yaml': { routes: [{ name: 'app', path: '/', upstream: 'http://127.0.0.1:9', allow: [{ authenticated: true }] }] } },
    });
  });

  after(async () => {
    await gh?.stop();
    admin?.disconnect();
    await redis?.stop();
  });

  test('a verified LogoutRequest whose sessions cannot be ended is answered Responder/PartialLogout, never Success', async () => {
    const login = await startSpLogin(gh!.url, 'lab');
    const res = await postResponse(login, genuineResponseXml(login, 'frank@example.com'));
    assert.equal(res.status, 303, await res.text());
    // Sessions, logins and the replay cache stay reachable; the session indexes do not.
    await admin!.call('ACL', 'SETUSER', 'gh', 'resetkeys', '~gatehouse:s:*', '~gatehouse:login:*', '~gatehouse:replay:*', '~gatehouse:rec:*');
    const xml = logoutRequestXml({ issuer: TEST_IDP.entityId, destination: `${gh!.url}/.gatehouse/saml/lab/slo`, nameId: 'frank@example.com' }).xml;
    const answer = await jarFetch(new CookieJar(), `${gh!.url}/.gatehouse/saml/lab/slo?${redirectQuery('SAMLRequest', xml)}`);
    assert.equal(answer.status, 302, await answer.text());
    const sent = readRedirect(answer.headers.get('location')!, SP_KEYS.certPem);
    assert.ok(sent.signatureValid);
    assert.match(sent.xml, /<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2\.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2\.0:status:PartialLogout"\/>/);
    const line = await gh!.waitForLog((l) => l.event === 'saml-logout');
    assert.equal(line.verdict, 'partial-logout');
  });
});
