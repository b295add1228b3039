/**
 * Several connections at once: where unauthenticated browsers land (the sign-in page, or the
 * only IdP directly), home-realm discovery by email domain, and `enforce`, which makes one
 * connection the only way in for its domains. The attack `enforce` stops: a second IdP (here the
 * `partner` connection, or the demo IdP) asserting a user of a domain it does not own; whatever
 * it signs, that user must not get a session through it.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { demoLoginUntilAcs, postToAcs } from '../helpers/demo-login.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { assertLoginRefused, genuineResponseXml, postResponse, startSpLogin, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

let gh: RunningGatehouse;
let single: RunningGatehouse;
let upstream: TestUpstream;
const UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';

before(async () => {
  upstream = await startTestUpstream();
  const metadata = idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] });
  const routes = [{ name: 'ml', path: '/ml', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] }];
  gh = await startGatehouse({
    files: { 'idp.xml': metadata },
    config: { demo: true },
    connections: [
      { id: 'corp', display_name: 'Corp SSO', idp_metadata_file: 'idp.xml', email_domains: ['corp.example', 'Bücher.example'], enforce: true },
      { id: 'partner', display_name: 'Partner <IdP>', idp_metadata_file: 'idp.xml', email_domains: ['partner.example'], idp_initiated: 'accept' },
      { id: 'demo', display_name: 'Demo', demo_idp: { users: [{ name: 'mallory', email: 'alice@corp.example', groups: ['ml-engineers'] }, { name: 'dan', email: 'dan@demo.example', groups: ['ml-engineers'] }] } },
    ],
    routes,
  });
  single = await startGatehouse({ files: { 'idp.xml': metadata }, connections: [{ id: 'only', idp_metadata_file: 'idp.xml' }], routes });
});

after(async () => {
  await gh?.stop();
  await single?.stop();
  await upstream?.close();
});

/** A browser navigation (fetch cannot send `Sec-Fetch-Mode: navigate`): status and Location. */
function navigate(url: string): Promise<{ status: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, location: res.headers.location });
    });
    req.on('error', reject);
    req.end();
  });
}

/** A browser page load or form post (node:http: fetch cannot send `Sec-Fetch-Mode: navigate`), as a Response. */
function browser(url: string, form?: URLSearchParams): Promise<Response> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'text/html', 'sec-fetch-mode': 'navigate' };
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const req = request(url, { method: form ? 'POST' : 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
        resolve(new Response(res.statusCode === 303 || res.statusCode === 302 ? null : Buffer.concat(chunks), { status: res.statusCode, headers: h }));
      });
    });
    req.on('error', reject);
    req.end(form?.toString());
  });
}

const signInPage = (base: string, rd = '/ml/x') => browser(`${base}/.gatehouse/sign-in?rd=${encodeURIComponent(rd)}`);
const discover = (email: string, rd = '/ml/x?y=1') => browser(`${gh.url}/.gatehouse/sign-in`, new URLSearchParams({ email, rd }));

describe('where a browser that must sign in lands', () => {
  test('several connections: the sign-in page, carrying the exact request', async () => {
    const res = await navigate(`${gh.url}/ml/x?y=1`);
    assert.equal(res.status, 302);
    assert.equal(res.location, `${gh.url}/.gatehouse/sign-in?rd=${encodeURIComponent('/ml/x?y=1')}`);
  });

  test('one connection: straight to its IdP login, no page in between', async () => {
    const res = await navigate(`${single.url}/ml/x`);
    assert.equal(res.status, 302);
    assert.equal(res.location, `${single.url}/.gatehouse/saml/only/login?rd=${encodeURIComponent('/ml/x')}`);
  });

  test('the page lists every connection by display_name (escaped), each button keeping rd', async () => {
    const res = await signInPage(gh.url);
    const html = await res.text();
    assert.equal(res.status, 200);
    assert.match(html, /Corp SSO/);
    assert.match(html, /Partner &#60;IdP&#62;/, 'display names are escaped');
    for (const id of ['corp', 'partner', 'demo']) assert.ok(html.includes(`/.gatehouse/saml/${id}/login?rd=%2Fml%2Fx`), id);
    assert.match(html, /<input id="email" name="email" type="email"/, 'the email field is there when domains are claimed');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  });

  test('a script or CLI asking the sign-in page gets JSON (never HTML): each connection\'s login URL and the CLI hint', async () => {
    const res = await fetch(`${gh.url}/.gatehouse/sign-in?rd=%2Fml%2Fx`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await res.json()) as { connections: { id: string; name: string; login_url: string }[]; email_discovery: boolean; login: { cli: string } };
    assert.deepEqual(body.connections.map((c) => c.id), ['corp', 'partner', 'demo']);
    assert.equal(body.connections[1]!.name, 'Partner <IdP>', 'JSON, so not HTML-escaped');
    assert.equal(body.connections[0]!.login_url, `${gh.url}/.gatehouse/saml/corp/login?rd=%2Fml%2Fx`);
    assert.equal(body.email_discovery, true);
    assert.equal(body.login.cli, `gatehouse login ${gh.url}`);
    const posted = await fetch(`${gh.url}/.gatehouse/sign-in`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ email: 'x@unknown.example', rd: '/' }) });
    assert.equal(posted.status, 200);
    const unknown = (await posted.json()) as { connection: string | null; message: string };
    assert.equal(unknown.connection, null);
    assert.match(unknown.message, /No sign-in is set up/);
  });

  test('the page\'s earlier address /.gatehouse/signin still answers', async () => {
    const res = await browser(`${gh.url}/.gatehouse/signin?rd=%2Fml%2Fx`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Corp SSO/);
  });

  test('open redirect through the page: a foreign rd becomes /', async () => {
    const html = await (await signInPage(gh.url, 'https://evil.example/')).text();
    assert.ok(!html.includes('evil.example'));
    assert.ok(html.includes('/.gatehouse/saml/corp/login?rd=%2F"'));
    const res = await discover('alice@corp.example', '//evil.example/x');
    assert.equal(res.headers.get('location'), '/.gatehouse/saml/corp/login?rd=%2F');
  });
});

describe('home-realm discovery', () => {
  test('alice@corp.example goes to the corp connection\'s login, rd kept', async () => {
    const res = await discover('alice@corp.example');
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), `/.gatehouse/saml/corp/login?rd=${encodeURIComponent('/ml/x?y=1')}`);
  });

  test('case, spaces, sub-domains and IDN spellings find the same connection', async () => {
    for (const email of [' ALICE@Corp.Example ', 'bob@eu.corp.example', 'karl@bücher.example', 'karl@xn--bcher-kva.example', 'pat@partner.example']) {
      const res = await discover(email);
      assert.equal(res.status, 303, email);
      assert.match(res.headers.get('location')!, email.includes('partner') ? /\/saml\/partner\/login/ : /\/saml\/corp\/login/, email);
    }
  });

  test('unknown domain: one clear message, the same for every unknown domain (no enumeration)', async () => {
    const a = await discover('x@unknown.example');
    const b = await discover('x@corp.example.evil');
    const c = await discover('not an address');
    assert.equal(a.status, 200);
    const strip = async (r: Response) => (await r.text()).replace(/value="[^"]*@?[^"]*" *>/, '');
    const [ta, tb, tc] = [await strip(a), await strip(b), await strip(c)];
    assert.match(ta, /No sign-in is set up for that email address/);
    assert.equal(ta.replace(/x@unknown\.example/g, ''), tb.replace(/x@corp\.example\.evil/g, ''), 'nothing but the echoed address differs');
    assert.equal(ta.replace(/x@unknown\.example/g, ''), tc.replace(/not an address/g, ''));
    assert.ok(!ta.includes('corp.example') && !ta.includes('partner.example'), 'claimed domains are never listed');
  });

  test('the typed address is echoed escaped (no script injection through the form)', async () => {
    const html = await (await discover('"><script>alert(1)</script>@x.example')).text();
    assert.ok(!html.includes('<script>alert(1)'));
  });

  test('only GET, HEAD and POST', async () => {
    assert.equal((await fetch(`${gh.url}/.gatehouse/sign-in`, { method: 'PUT' })).status, 405);
  });
});

describe('enforce: the attack of a second IdP asserting a user of a domain it does not own', () => {
  async function loginVia(connection: string, nameId: string, attributes: Record<string, string[]>, nameIdFormat?: string): Promise<{ res: Response; jar: CookieJar }> {
    const login = await startSpLogin(gh.url, connection);
    const res = await postResponse(login, genuineResponseXml(login, nameId, { attributes, ...(nameIdFormat ? { nameIdFormat } : {}) }));
    return { res, jar: login.jar };
  }

  async function assertRefused(res: Response, jar: CookieJar): Promise<void> {
    await assertLoginRefused(res, gh.logs, 'domain-enforced-elsewhere');
    const before = upstream.seen.length;
    assert.equal((await jarFetch(jar, `${gh.url}/ml/x`, { headers: { accept: 'application/json' } })).status, 401, 'still signed out');
    assert.equal(upstream.seen.length, before);
  }

  test('control: the owning connection signs alice@corp.example in', async () => {
    const { res, jar } = await loginVia('corp', 'alice@corp.example', { email: ['alice@corp.example'], groups: ['ml-engineers'] });
    assert.equal(res.status, 303, await res.text());
    assert.equal((await jarFetch(jar, `${gh.url}/ml/x`)).status, 200);
  });

  test('control: the partner connection signs its own users in', async () => {
    const { res } = await loginVia('partner', 'pat@partner.example', { email: ['pat@partner.example'], groups: ['ml-engineers'] });
    assert.equal(res.status, 303, await res.text());
  });

  const SPELLINGS: [string, string][] = [
    ['the exact address', 'alice@corp.example'],
    ['upper case', 'ALICE@CORP.EXAMPLE'],
    ['a sub-domain', 'alice@eu.corp.example'],
    ['a trailing dot', 'alice@corp.example.'],
    ['full-width letters (mapped to ASCII by IDNA)', 'alice@ｃｏｒｐ.example'],
    ['an IDN domain in Unicode', 'karl@bücher.example'],
    ['an IDN domain in punycode', 'karl@xn--bcher-kva.example'],
  ];
  for (const [how, address] of SPELLINGS) {
    test(`a second IdP asserting a corp.example user (${how}) gets no session`, async () => {
      const { res, jar } = await loginVia('partner', address, { email: [address], groups: ['ml-engineers'] });
      await assertRefused(res, jar);
    });
  }

  test('a second IdP naming the user only in the NameID (no email attribute) gets no session', async () => {
    const { res, jar } = await loginVia('partner', 'alice@corp.example', { groups: ['ml-engineers'] }, UNSPECIFIED);
    await assertRefused(res, jar);
  });

  test('a second IdP with its own NameID but a corp.example email attribute gets no session', async () => {
    const { res, jar } = await loginVia('partner', 'p-123', { email: ['alice@corp.example'] }, UNSPECIFIED);
    await assertRefused(res, jar);
  });

  test('the same holds for an IdP-initiated (unsolicited) response on the other connection', async () => {
    const login = await startSpLogin(gh.url, 'partner');
    const { buildSignedResponseXml } = await import('../helpers/saml-idp-signer.js');
    const xml = buildSignedResponseXml({ idpEntityId: TEST_IDP.entityId, spEntityId: login.spEntityId, acsUrl: login.acsUrl, nameId: 'alice@corp.example', attributes: { email: ['alice@corp.example'] } });
    await assertRefused(await postResponse(login, xml, { relayState: null }), login.jar);
  });

  test('the demo IdP asserting alice@corp.example gets no session; its own users still sign in', async () => {
    const mallory = await demoLoginUntilAcs(gh.url, 'mallory');
    await assertRefused(await postToAcs(mallory), mallory.jar);
    const dan = await demoLoginUntilAcs(gh.url, 'dan');
    assert.equal((await postToAcs(dan)).status, 303);
  });
});
