/**
 * End to end against a real IdP: SimpleSAMLphp 1.19 (Apache + mod_php on loopback), one
 * Gatehouse started in-process from YAML, a recording upstream, and headless Chromium doing what
 * a person would do: open a protected URL, get sent to the IdP, type a password, land back.
 *
 * Every case runs in a fresh browser context (no cookies, no IdP session) and uses its own paths,
 * so upstream records and log lines can be told apart while sharing one IdP and one Gatehouse.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { Browser, BrowserContext, Page, Response as PwResponse } from 'playwright-core';
import { e2eSkipReason, launchBrowser, loginAtSimpleSamlPhp } from '../helpers/browser.js';
import { freePort } from '../helpers/free-port.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { replaceNameId } from '../helpers/saml-tamper.js';
import { DEFAULT_USERS, simpleSamlPhpAvailable, startSimpleSamlPhp, type RunningIdp } from '../helpers/simplesamlphp.js';
import { startTestUpstream, type SeenRequest, type TestUpstream } from '../helpers/upstream.js';
import { startTogether } from '../helpers/start-together.js';

const skipReason = e2eSkipReason(simpleSamlPhpAvailable());

const CONNECTION = 'lab';
const SESSION_COOKIE = 'gatehouse_session';
const LOGIN_COOKIE = 'gatehouse_login';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A cookie of the application behind Gatehouse: it must reach the upstream, ours must not. */
const APP_COOKIE = { name: 'app_pref', value: 'dark' };

/** Every value of one header as the upstream received it (rawHeaders: all spellings, duplicates). */
function headerValues(req: SeenRequest, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === name.toLowerCase()) out.push(req.rawHeaders[i + 1]!);
  }
  return out;
}

/** The one value of a header; fails when it is missing or sent more than once. */
function onlyHeader(req: SeenRequest, name: string): string {
  const values = headerValues(req, name);
  assert.equal(values.length, 1, `${name} sent exactly once (got ${JSON.stringify(values)})`);
  return values[0]!;
}

/** X-Forwarded-Groups as documented: split on `,`, then percent-decode each name. */
function decodeGroups(value: string): string[] {
  return value === '' ? [] : value.split(',').map(decodeURIComponent);
}

/** URLs of a navigation's redirect chain, first request first. */
function redirectChain(res: PwResponse): string[] {
  const urls: string[] = [];
  for (let req: ReturnType<PwResponse['request']> | null = res.request(); req; req = req.redirectedFrom()) urls.unshift(req.url());
  return urls;
}

/** A websocket handshake without cookies; resolves with the non-101 answer. */
function rawUpgrade(url: string): Promise<{ status: number; body: { error?: Record<string, string> } }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
    req.once('upgrade', (_res, socket) => {
      socket.destroy();
      reject(new Error('upgrade was accepted'));
    });
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: Record<string, string> } }));
    });
    req.once('error', reject);
    req.end();
  });
}

/** The routes of this suite, with the groups the `ml` route admits. */
function routesWith(upstreamUrl: string, mlGroups: string[]): Record<string, unknown>[] {
  return [
    { name: 'ml', path: '/ml', upstream: upstreamUrl, allow: [{ groups: mlGroups }] },
    { name: 'any', path: '/any', upstream: upstreamUrl, allow: [{ authenticated: true }], forward_groups: 'all' },
    { name: 'ws', path: '/ws', upstream: upstreamUrl, allow: [{ groups: ['ml-engineers'] }] },
  ];
}

function passwordOf(user: string): string {
  const found = DEFAULT_USERS.find((u) => u.username === user);
  assert.ok(found, `test user ${user}`);
  return found.password;
}

describe('login through SimpleSAMLphp in Chromium', { timeout: 180_000 }, () => {
  let idp: RunningIdp | undefined;
  let upstream: TestUpstream | undefined;
  let browser: Browser | undefined;
  let gh: RunningGatehouse | undefined;
  let acsUrl = '';

  before(async () => {
    if (skipReason) return;
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    acsUrl = `${origin}/.gatehouse/saml/${CONNECTION}/acs`;
    await startTogether(
      startSimpleSamlPhp().then((v) => (idp = v)),
      startTestUpstream().then((v) => (upstream = v)),
      launchBrowser().then((v) => (browser = v)),
    );
    assert.ok(idp && upstream);
    await idp.registerSp({ entityId: `${origin}/.gatehouse/saml/${CONNECTION}/metadata`, acsUrl });
    gh = await startGatehouse({
      port,
      connections: [{ id: CONNECTION, idp_metadata_url: idp.metadataUrl, attributes: { email: 'email', groups: 'groups', name: 'displayName' } }],
      routes: routesWith(upstream.url, ['ml-engineers']),
    });
    assert.equal(gh.url, origin);
  });

  after(async () => {
    await browser?.close();
    await gh?.stop();
    await upstream?.close();
    await idp?.stop();
  });

  function running(): { idp: RunningIdp; upstream: TestUpstream; browser: Browser; gh: RunningGatehouse } {
    assert.ok(idp && upstream && browser && gh, 'before() started everything');
    return { idp, upstream, browser, gh };
  }

  /** Runs `fn` with a page in a fresh context that carries the application's own cookie. */
  async function withPage<T>(fn: (page: Page, context: BrowserContext) => Promise<T>): Promise<T> {
    const { browser, gh } = running();
    const context = await browser.newContext();
    try {
      await context.addCookies([{ ...APP_COOKIE, url: gh.url }]);
      return await fn(await context.newPage(), context);
    } finally {
      await context.close();
    }
  }

  /**
   * Opens `path` on Gatehouse, checks the browser was sent to the IdP's login form, signs in
   * there and returns the response of the navigation that lands back on `path`.
   */
  async function signIn(page: Page, path: string, user: string): Promise<PwResponse> {
    const { idp, gh } = running();
    const first = await page.goto(`${gh.url}${path}`);
    assert.ok(first, 'navigation response');
    const chain = redirectChain(first);
    assert.equal(chain[0], `${gh.url}${path}`);
    assert.equal(chain[1], `${gh.url}/.gatehouse/saml/${CONNECTION}/login?rd=${encodeURIComponent(path)}`);
    assert.ok(chain[2]?.startsWith(`${idp.ssoUrl}?SAMLRequest=`), `sent to the IdP's SSO service, got ${chain[2]}`);
    assert.ok(page.url().startsWith(`${idp.baseUrl}module.php/core/loginuserpass.php`), `on the IdP login form, got ${page.url()}`);
    const landed = page.waitForResponse((r) => r.url() === `${gh.url}${path}` && r.request().isNavigationRequest());
    await loginAtSimpleSamlPhp(page, user, passwordOf(user));
    const res = await landed;
    await page.waitForLoadState('load');
    assert.equal(page.url(), `${gh.url}${path}`, 'landed back on the URL first asked for');
    return res;
  }

  /** The requests the upstream saw for exactly this path (with query). */
  function seenAt(url: string, method = 'GET'): SeenRequest[] {
    return running().upstream.seen.filter((r) => r.url === url && r.method === method);
  }

  async function cookieValue(context: BrowserContext, name: string): Promise<string | undefined> {
    const { gh } = running();
    return (await context.cookies(gh.url)).find((c) => c.name === name)?.value;
  }

  it('alice signs in from a protected URL and the upstream sees her identity, not our cookies', async (t) => {
    if (skipReason) return t.skip(skipReason);
    await withPage(async (page, context) => {
      const res = await signIn(page, '/ml/notebook?x=1', 'alice');
      assert.equal(res.status(), 200);
      assert.equal(await res.text(), 'ok');
      assert.ok(await cookieValue(context, SESSION_COOKIE), 'session cookie set');
      assert.ok(await cookieValue(context, LOGIN_COOKIE), 'login cookie still in the browser, so stripping it is tested');

      const seen = seenAt('/ml/notebook?x=1');
      assert.equal(seen.length, 1, 'upstream saw the request once');
      const req = seen[0]!;
      assert.equal(onlyHeader(req, 'x-forwarded-user'), 'alice@example.com');
      assert.equal(onlyHeader(req, 'x-forwarded-email'), 'alice@example.com');
      // The IdP sends [ml-engineers, admins]; the route names only ml-engineers (forward_groups: mentioned).
      assert.deepEqual(decodeGroups(onlyHeader(req, 'x-forwarded-groups')), ['ml-engineers']);
      const cookie = onlyHeader(req, 'cookie');
      assert.equal(cookie, `${APP_COOKIE.name}=${APP_COOKIE.value}`, 'only the application cookie is forwarded');
      assert.doesNotMatch(cookie, /gatehouse_/);
    });
  });

  it('bob (data-scientists only) gets 403 ACCESS_DENIED on /ml and the upstream sees nothing', async (t) => {
    if (skipReason) return t.skip(skipReason);
    await withPage(async (page) => {
      const res = await signIn(page, '/ml/bob-probe', 'bob');
      assert.equal(res.status(), 403);
      const requestId = res.headers()['x-request-id'] ?? '';
      assert.match(requestId, UUID);
      const body = (await page.textContent('body')) ?? '';
      assert.match(body, /ACCESS_DENIED/);
      assert.ok(body.includes(requestId), 'the page shows the request id');
      assert.match(body, /groups-unauthorized/, 'a signed-in user is told why');
      const decision = running().gh.logs.find((l) => l.event === 'decision' && l.req_id === requestId);
      assert.equal(decision.length, 1);
      assert.equal(decision[0]!.user, 'bob@example.com');
      assert.equal(decision[0]!.decision, 'deny');
      assert.equal(seenAt('/ml/bob-probe').length, 0, 'upstream saw nothing');
    });
  });

  it('editing a policy file changes access without a restart: bob is refused, granted, refused again', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { gh, upstream } = running();
    const policyFile = join(gh.dir, 'policies', 'routes.yaml');
    /** Reloads the page until it answers `status` (the watcher reloads within a second or so). */
    const until = async (page: Page, status: number) => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const res = await page.goto(`${gh.url}/ml/bob-edit`);
        if (res?.status() === status || Date.now() > deadline) return res?.status();
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await withPage(async (page) => {
      assert.equal((await signIn(page, '/ml/bob-edit', 'bob')).status(), 403);
      assert.match((await page.textContent('body')) ?? '', /granted to members of: ml-engineers/, 'the refusal names the group to ask for');
      try {
        writeFileSync(policyFile, stringify({ routes: routesWith(upstream.url, ['ml-engineers', 'data-scientists']) }));
        assert.equal(await until(page, 200), 200, 'granted by the edit, same session, no restart');
        assert.equal(seenAt('/ml/bob-edit').length, 1);
      } finally {
        writeFileSync(policyFile, stringify({ routes: routesWith(upstream.url, ['ml-engineers']) }));
      }
      assert.equal(await until(page, 403), 403, 'revoked by the next edit');
      const forwarded = seenAt('/ml/bob-edit').length;
      assert.equal((await page.goto(`${gh.url}/ml/bob-edit`))?.status(), 403);
      assert.equal(seenAt('/ml/bob-edit').length, forwarded, 'nothing forwarded once revoked');
    });
  });

  it('carol (no groups attribute) gets 403 on /ml and 200 on /any', async (t) => {
    if (skipReason) return t.skip(skipReason);
    await withPage(async (page) => {
      const denied = await signIn(page, '/ml/carol-probe', 'carol');
      assert.equal(denied.status(), 403);
      assert.match((await page.textContent('body')) ?? '', /ACCESS_DENIED/);
      assert.equal(seenAt('/ml/carol-probe').length, 0);

      const allowed = await page.goto(`${running().gh.url}/any/carol`);
      assert.equal(allowed?.status(), 200);
      assert.equal(redirectChain(allowed!).length, 1, 'no second trip to the IdP');
      const seen = seenAt('/any/carol');
      assert.equal(seen.length, 1);
      assert.equal(onlyHeader(seen[0]!, 'x-forwarded-user'), 'carol@example.com');
      assert.deepEqual(decodeGroups(headerValues(seen[0]!, 'x-forwarded-groups')[0] ?? ''), []);
    });
  });

  it("dave's awkward group names reach the upstream exactly", async (t) => {
    if (skipReason) return t.skip(skipReason);
    await withPage(async (page) => {
      const res = await signIn(page, '/any/dave', 'dave');
      assert.equal(res.status(), 200);
      const seen = seenAt('/any/dave');
      assert.equal(seen.length, 1);
      const groups = onlyHeader(seen[0]!, 'x-forwarded-groups');
      assert.equal(groups, 'team%2C%20ml,a;b,space%20name,%C3%9Cn%C3%AFcode-gr%C3%BCppe', 'documented encoding');
      assert.deepEqual(decodeGroups(groups), ['team, ml', 'a;b', 'space name', 'Ünïcode-grüppe']);
    });
  });

  it('logout ends access: /any goes back to the IdP and API calls get 401 JSON', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { idp, gh } = running();
    await withPage(async (page, context) => {
      assert.equal((await signIn(page, '/any/before-logout', 'alice')).status(), 200);
      const oldToken = await cookieValue(context, SESSION_COOKIE);
      assert.ok(oldToken);

      await page.goto(`${gh.url}/.gatehouse/logout`);
      const signedOut = page.waitForResponse((r) => r.url() === `${gh.url}/.gatehouse/logout` && r.request().method() === 'POST');
      await page.getByRole('button', { name: 'Sign out' }).click();
      assert.equal((await signedOut).status(), 200);
      assert.match((await page.textContent('body')) ?? '', /signed out/i);
      assert.equal(await cookieValue(context, SESSION_COOKIE), undefined, 'session cookie cleared');
      assert.equal(gh.logs.find((l) => l.event === 'logout' && l.user === 'alice@example.com').length, 1);

      // Gatehouse pages forbid scripts from connecting anywhere (CSP); healthz is plain JSON.
      await page.goto(`${gh.url}/.gatehouse/healthz`);
      const api = await page.evaluate(async () => {
        const r = await fetch('/any/api', { headers: { accept: 'application/json' } });
        return { status: r.status, body: (await r.json()) as { error: Record<string, string> } };
      });
      assert.equal(api.status, 401);
      assert.equal(api.body.error.code, 'AUTHENTICATION_REQUIRED');
      assert.match(api.body.error.request_id ?? '', UUID);
      assert.equal(api.body.error.login_url, `${gh.url}/.gatehouse/saml/${CONNECTION}/login?rd=${encodeURIComponent('/any/api')}`);

      // The server-side session is gone too: the old cookie value opens nothing.
      const replayed = await fetch(`${gh.url}/any/api`, { headers: { accept: 'application/json', cookie: `${SESSION_COOKIE}=${oldToken}` } });
      assert.equal(replayed.status, 401);

      // The IdP still has its own session and would sign alice straight back in: stop at its door.
      await page.route((url) => url.href.startsWith(idp.ssoUrl), (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<p>at the IdP</p>' }));
      const again = await page.goto(`${gh.url}/any/after-logout`);
      assert.ok(again);
      const chain = redirectChain(again);
      assert.equal(chain[0], `${gh.url}/any/after-logout`);
      assert.equal(chain[1], `${gh.url}/.gatehouse/saml/${CONNECTION}/login?rd=${encodeURIComponent('/any/after-logout')}`);
      assert.ok(page.url().startsWith(`${idp.ssoUrl}?SAMLRequest=`), `redirected to the IdP, got ${page.url()}`);
      assert.equal(seenAt('/any/after-logout').length + seenAt('/any/api').length, 0, 'upstream saw nothing after logout');
    });
  });

  it('a SAMLResponse with a changed NameID is refused: 403 SAML_LOGIN_FAILED, signature-invalid', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { gh } = running();
    await withPage(async (page, context) => {
      let captured: URLSearchParams | undefined;
      // Fulfilled, not aborted: the IdP's auto-POST then commits, so the login helper returns.
      await page.route(acsUrl, async (route) => {
        captured = new URLSearchParams(route.request().postData() ?? '');
        await route.fulfill({ status: 200, contentType: 'text/plain', body: 'held back from Gatehouse' });
      });
      await page.goto(`${gh.url}/any/tamper`);
      await loginAtSimpleSamlPhp(page, 'alice', passwordOf('alice'));
      await page.unroute(acsUrl);
      const genuine = captured?.get('SAMLResponse');
      assert.ok(genuine, 'captured the SAMLResponse the IdP posted');
      const xml = Buffer.from(genuine, 'base64').toString('utf8');
      assert.ok(xml.includes('>alice@example.com</saml:NameID>'), 'the genuine NameID');
      const forged = Buffer.from(replaceNameId(xml, 'mallory@example.com')).toString('base64');
      assert.ok(Buffer.from(forged, 'base64').toString('utf8').includes('>mallory@example.com</saml:NameID>'));

      const res = await page.request.post(acsUrl, {
        form: { SAMLResponse: forged, RelayState: captured?.get('RelayState') ?? '' },
        maxRedirects: 0,
      });
      assert.equal(res.status(), 403);
      assert.equal(res.headers()['set-cookie'], undefined, 'no cookie of any kind');
      const { error } = (await res.json()) as { error: Record<string, string> };
      assert.equal(error.code, 'SAML_LOGIN_FAILED');
      assert.equal(error.reason, undefined, 'the cause stays in the logs');
      assert.equal(await cookieValue(context, SESSION_COOKIE), undefined);
      const failed = gh.logs.find((l) => l.event === 'login-failed' && l.req_id === error.request_id);
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.reason, 'signature-invalid');
      assert.equal(gh.logs.find((l) => l.event === 'login' && l.user === 'mallory@example.com').length, 0);
      assert.equal(seenAt('/any/tamper').length, 0, 'upstream saw nothing');
    });
  });

  it('a SAMLResponse already used is refused, from the same browser and from another', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { browser, gh } = running();
    await withPage(async (page, context) => {
      let captured: URLSearchParams | undefined;
      await page.route(acsUrl, async (route) => {
        captured = new URLSearchParams(route.request().postData() ?? '');
        await route.continue();
      });
      assert.equal((await signIn(page, '/any/replay', 'alice')).status(), 200);
      await page.unroute(acsUrl);
      const form = { SAMLResponse: captured?.get('SAMLResponse') ?? '', RelayState: captured?.get('RelayState') ?? '' };
      assert.ok(form.SAMLResponse && form.RelayState, 'captured SAMLResponse and RelayState');
      const session = await cookieValue(context, SESSION_COOKIE);
      assert.ok(session);

      const expectRefused = async (res: Awaited<ReturnType<Page['request']['post']>>) => {
        assert.equal(res.status(), 403);
        assert.equal(res.headers()['set-cookie'], undefined, 'no new session cookie');
        const { error } = (await res.json()) as { error: Record<string, string> };
        assert.equal(error.code, 'SAML_LOGIN_FAILED');
        const failed = gh.logs.find((l) => l.event === 'login-failed' && l.req_id === error.request_id);
        assert.equal(failed.length, 1);
        assert.ok(['assertion-replayed', 'relay-state-unknown'].includes(String(failed[0]!.reason)), `reason ${String(failed[0]!.reason)}`);
      };
      await expectRefused(await page.request.post(acsUrl, { form, maxRedirects: 0 }));
      assert.equal(await cookieValue(context, SESSION_COOKIE), session, 'session cookie unchanged');

      const other = await browser.newContext();
      try {
        await expectRefused(await other.request.post(acsUrl, { form, maxRedirects: 0 }));
        assert.equal((await other.cookies(gh.url)).find((c) => c.name === SESSION_COOKIE), undefined);
      } finally {
        await other.close();
      }
      assert.equal(gh.logs.find((l) => l.event === 'login' && l.user === 'alice@example.com').length >= 1, true);
      assert.equal(seenAt('/any/replay').length, 1, 'only the genuine login reached the upstream');
    });
  });

  it('websockets: echo through the proxy after login; refused with 401 without a session', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { gh, upstream } = running();
    const wsUrl = `${gh.url.replace(/^http/, 'ws')}/ws/echo`;
    const echo = (page: Page) =>
      page.evaluate(
        (url) =>
          new Promise<{ echoed?: string; closeCode?: number }>((resolve) => {
            const ws = new WebSocket(url);
            ws.onopen = () => ws.send('ping from alice ✓');
            ws.onmessage = (e) => {
              resolve({ echoed: String(e.data) });
              ws.close();
            };
            ws.onclose = (e) => resolve({ closeCode: e.code });
          }),
        wsUrl,
      );
    const upgrades = () => upstream.seen.filter((r) => r.method === 'UPGRADE' && r.url === '/ws/echo');

    await withPage(async (page) => {
      assert.equal((await signIn(page, '/ws/home', 'alice')).status(), 200);
      assert.deepEqual(await echo(page), { echoed: 'ping from alice ✓' });
      const seen = upgrades();
      assert.equal(seen.length, 1);
      assert.equal(onlyHeader(seen[0]!, 'x-forwarded-user'), 'alice@example.com');
      assert.deepEqual(decodeGroups(onlyHeader(seen[0]!, 'x-forwarded-groups')), ['ml-engineers']);
      assert.doesNotMatch(headerValues(seen[0]!, 'cookie').join(';'), /gatehouse_/);
    });

    await withPage(async (page) => {
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      const logMark = gh.logs.lines.length;
      await page.goto(`${gh.url}/.gatehouse/healthz`);
      assert.deepEqual(await echo(page), { closeCode: 1006 });
      assert.equal(upgrades().length, 1, 'the refused upgrade never reached the upstream');
      const refused = gh.logs.lines.slice(logMark).filter((l) => l.event === 'access' && l.method === 'UPGRADE');
      assert.equal(refused.length, 1);
      assert.equal(refused[0]!.status, 401);
      assert.equal(refused[0]!.code, 'AUTHENTICATION_REQUIRED');
      // Chromium reports a 401 handshake (its only 401/407 wording) without the status itself.
      assert.ok(errors.some((e) => e.includes('HTTP Authentication failed')), `browser saw the 401: ${JSON.stringify(errors)}`);
    });

    // What the refused handshake says on the wire.
    const refusal = await rawUpgrade(wsUrl.replace(/^ws/, 'http'));
    assert.equal(refusal.status, 401);
    assert.equal(refusal.body.error?.code, 'AUTHENTICATION_REQUIRED');
    assert.equal(refusal.body.error?.login_url, `${gh.url}/.gatehouse/saml/${CONNECTION}/login?rd=${encodeURIComponent('/ws/echo')}`);
    assert.equal(upgrades().length, 1);
  });
});
