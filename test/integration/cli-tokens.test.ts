/**
 * CLI tokens over HTTP (docs/cli-tokens.md): a browser session signed in through the demo IdP
 * approves a CLI login on the confirm page, a loopback listener receives the code, the code is
 * exchanged with its PKCE verifier, and the access token is used with the real `curl`. Every
 * security decision has a test named after the attack it stops.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { AccessTokens } from '../../proxy/tokens/access-token.js';
import { approve, authorizeUrl, cliLogin, confirmForm, pkce, postForm, startLoopback } from '../helpers/cli-flow.js';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { demoLogin, demoLoginUntilAcs, postToAcs } from '../helpers/demo-login.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const run = promisify(execFile);
const ADMIN_TOKEN = `admin-${'c0ffee12'.repeat(5)}`;
const SCIM_TOKEN = `scim-${'5ca1ab1e'.repeat(5)}`;
const users = [
  { name: 'alice', email: 'alice@example.com', groups: ['ml-engineers'] },
  { name: 'bob', email: 'bob@example.com', groups: ['ml-engineers'] },
  { name: 'carol', email: 'carol@example.com', groups: ['ml-engineers'] },
  { name: 'dan', email: 'dan@example.com', groups: ['ml-engineers'] },
  { name: 'erin', email: 'erin@example.com', groups: ['ml-engineers'] },
  { name: 'frank', email: 'frank@example.com', groups: ['ml-engineers'] },
  { name: 'grace', email: 'grace@example.com', groups: ['ml-engineers'] },
  { name: 'heidi', email: 'heidi@example.com', groups: ['ml-engineers'] },
  { name: 'ivan', email: 'ivan@example.com', groups: ['ml-engineers'] },
  { name: 'judy', email: 'judy@example.com', groups: ['ml-engineers'] },
];

let gh: RunningGatehouse;
let upstream: TestUpstream;
/** Every token, code and verifier handed out: none may ever appear in the logs. */
const secrets: string[] = [];

before(async () => {
  upstream = await startTestUpstream();
  gh = await startGatehouse({
    config: { demo: true, admin: { token: ADMIN_TOKEN, scim_token: SCIM_TOKEN }, tokens: { access_ttl: '10m' } },
    connections: [{ id: 'demo', demo_idp: { users } }],
    routes: [
      { name: 'ml', path: '/ml', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] },
      { name: 'public', path: '/public', upstream: upstream.url, allow: [{ public: true }] },
    ],
  });
});
after(async () => {
  await gh.stop();
  await upstream.close();
});

const TOKEN_URL = () => `${gh.url}/.gatehouse/cli/token`;
const REVOKE_URL = () => `${gh.url}/.gatehouse/cli/revoke`;

async function login(user: string): Promise<{ jar: CookieJar; tokens: Awaited<ReturnType<typeof cliLogin>> }> {
  const jar = await demoLogin(gh.url, user);
  const tokens = await cliLogin(gh.url, jar);
  secrets.push(tokens.access_token, tokens.refresh_token);
  return { jar, tokens };
}

/** A request to a route with these headers; the JSON error or `ok`, and what the upstream saw. */
async function call(path: string, headers: Record<string, string>): Promise<{ status: number; body: string; seen: TestUpstream['seen'][number] | undefined; headers: Headers }> {
  const before = upstream.seen.length;
  const res = await fetch(`${gh.url}${path}`, { headers: { accept: 'application/json', ...headers }, redirect: 'manual' });
  const body = await res.text();
  return { status: res.status, body, seen: upstream.seen.length > before ? upstream.seen.at(-1) : undefined, headers: res.headers };
}

/** A request through node:http (fetch cannot send `Sec-Fetch-Mode: navigate` nor another Host). */
function raw(url: string, headers: Record<string, string>): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
    })
      .on('error', reject)
      .end();
  });
}

const codeOf = (body: string) => (JSON.parse(body) as { error: { code: string } }).error.code;

/** Runs the real curl; returns its stdout (the body) and the HTTP status it printed last. */
async function curl(args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await run('/usr/bin/curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code}', ...args]);
  const i = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
}

describe('discovery', () => {
  test('the configuration document names every endpoint on the public origin, on any host', async () => {
    for (const host of [undefined, 'ml.example.test']) {
      const res = await raw(`${gh.url}/.well-known/gatehouse/configuration`, host ? { host } : {});
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body), {
        issuer: gh.url,
        authorization_endpoint: `${gh.url}/.gatehouse/cli/authorize`,
        token_endpoint: `${gh.url}/.gatehouse/cli/token`,
        revocation_endpoint: `${gh.url}/.gatehouse/cli/revoke`,
        jwks_uri: `${gh.url}/.well-known/gatehouse/jwks.json`,
        access_token_ttl_seconds: 600,
      });
    }
    assert.equal((await fetch(`${gh.url}/.well-known/gatehouse/configuration`, { method: 'POST' })).status, 405);
  });
});

describe('the whole CLI login, then curl with the token', () => {
  test('loopback login, curl with Authorization and with Proxy-Authorization, refresh, revoke -> 401', async () => {
    const { tokens } = await login('alice');
    assert.match(tokens.access_token, /^gta_/);
    assert.match(tokens.refresh_token, /^gtr_/);
    assert.equal(tokens.user, 'alice@example.com');
    assert.equal(tokens.email, 'alice@example.com');
    assert.deepEqual(tokens.groups, ['ml-engineers']);
    assert.ok(tokens.expires_in > 590 && tokens.expires_in <= 600, `expires_in ${tokens.expires_in}`);
    assert.ok(tokens.refresh_expires_in > 3600);

    const before = upstream.seen.length;
    const viaAuth = await curl(['-H', `Authorization: Bearer ${tokens.access_token}`, `${gh.url}/ml/models`]);
    assert.deepEqual(viaAuth, { status: 200, body: 'ok' });
    const seen1 = upstream.seen[before]!;
    assert.ok(seen1.rawHeaders.includes('alice@example.com'), 'the identity headers name the token\'s user');
    assert.equal(seen1.headers.authorization, undefined, 'our token never reaches the upstream');

    const viaProxy = await curl(['-H', `Proxy-Authorization: Bearer ${tokens.access_token}`, '-H', 'Authorization: Bearer upstream-own-token', `${gh.url}/ml/predict`]);
    assert.deepEqual(viaProxy, { status: 200, body: 'ok' });
    const seen2 = upstream.seen.at(-1)!;
    assert.equal(seen2.headers.authorization, 'Bearer upstream-own-token', "the upstream's own Authorization is left alone");
    assert.equal(seen2.headers['proxy-authorization'], undefined);
    assert.ok(!seen2.rawHeaders.join('\n').includes(tokens.access_token));

    const refreshed = await postForm(TOKEN_URL(), { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(refreshed.status, 200);
    assert.equal(refreshed.headers.get('cache-control'), 'no-store');
    assert.deepEqual(Object.keys(refreshed.body).sort(), ['access_token', 'expires_in', 'token_type']);
    const fresh = refreshed.body.access_token as string;
    secrets.push(fresh);
    assert.notEqual(fresh, tokens.access_token);
    assert.equal((await call('/ml/x', { authorization: `Bearer ${fresh}` })).status, 200);

    const revoked = await postForm(REVOKE_URL(), { token: tokens.refresh_token });
    assert.deepEqual([revoked.status, revoked.body], [200, {}]);
    for (const t of [tokens.access_token, fresh]) {
      const r = await curl(['-H', `Authorization: Bearer ${t}`, `${gh.url}/ml/models`]);
      assert.equal(r.status, 401, 'revoked token -> 401');
      const err = (JSON.parse(r.body) as { error: Record<string, string> }).error;
      assert.equal(err.code, 'TOKEN_INVALID');
      assert.equal((err.login as unknown as { cli: string }).cli, `gatehouse login ${gh.url}`);
      assert.match(err.login_url!, /^http:\/\/127\.0\.0\.1:\d+\/\.gatehouse\//);
    }
    const nav = await raw(`${gh.url}/ml/models`, { authorization: `Bearer ${fresh}`, accept: 'text/html', 'sec-fetch-mode': 'navigate' });
    assert.deepEqual([nav.status, nav.location], [401, undefined], 'never a redirect, even for a page load');
    const r = await call('/ml/models', { authorization: `Bearer ${fresh}` });
    assert.match(r.headers.get('www-authenticate')!, /^Bearer realm="gatehouse", error="invalid_token"/);
    assert.match(r.headers.get('content-type')!, /application\/json/);
    const again = await postForm(TOKEN_URL(), { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.deepEqual([again.status, again.body.error], [400, 'invalid_grant']);
    assert.ok(gh.logs.find((l) => l.event === 'cli-login' && l.user === 'alice@example.com').length >= 1);
    assert.ok(gh.logs.find((l) => l.event === 'cli-logout' && l.user === 'alice@example.com').length === 1);
  });

  test('revoking with an access token ends the CLI session too (and an unknown token still answers 200 {})', async () => {
    const { tokens } = await login('bob');
    assert.deepEqual((await postForm(REVOKE_URL(), { token: tokens.access_token })).body, {});
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 401);
    assert.equal((await postForm(TOKEN_URL(), { grant_type: 'refresh_token', refresh_token: tokens.refresh_token })).status, 400);
    const unknown = await postForm(REVOKE_URL(), { token: 'gtr_nothing' });
    assert.deepEqual([unknown.status, unknown.body], [200, {}]);
  });

  test('headless fallback (oob): the code is shown grouped in the browser and typed in any case', async () => {
    const jar = await demoLogin(gh.url, 'carol');
    const { verifier, challenge } = pkce();
    const oob = 'urn:ietf:wg:oauth:2.0:oob';
    const page = await jarFetch(jar, authorizeUrl(gh.url, { redirectUri: oob, state: 's1', challenge }), { headers: { accept: 'text/html' } });
    const html = await page.text();
    assert.match(html, /in a terminal to act as <strong>carol@example.com<\/strong>/);
    const shown = await jarFetch(jar, `${gh.url}/.gatehouse/cli/authorize`, { method: 'POST', body: confirmForm(html, 'allow'), headers: { origin: gh.url } });
    assert.equal(shown.status, 200);
    assert.equal(shown.headers.get('location'), null);
    const code = /<code id="code">([A-Z0-9-]+)<\/code>/.exec(await shown.text())![1]!;
    assert.match(code, /^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    secrets.push(code, verifier);
    const typed = ` ${code.toLowerCase().replaceAll('-', ' ')} `;
    const res = await postForm(TOKEN_URL(), { grant_type: 'authorization_code', code: typed, code_verifier: verifier, redirect_uri: oob, client_id: 'gatehouse-cli' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.user, 'carol@example.com');
    secrets.push(res.body.access_token as string, res.body.refresh_token as string);
  });

  test('Deny sends access_denied with the state to the loopback listener, and no code', async () => {
    const jar = await demoLogin(gh.url, 'alice');
    const lb = await startLoopback();
    const { challenge } = pkce();
    const res = await approve(gh.url, jar, authorizeUrl(gh.url, { redirectUri: lb.redirectUri, state: 'st-9', challenge }), 'deny');
    assert.equal(res.status, 303);
    const to = new URL(res.headers.get('location')!);
    assert.equal(`${to.origin}${to.pathname}`, lb.redirectUri);
    assert.deepEqual(Object.fromEntries(to.searchParams), { error: 'access_denied', state: 'st-9' });
    await lb.close();
  });

  test('websockets: a bearer token opens one, and the token never reaches the upstream', async () => {
    const { tokens } = await login('dan');
    const before = upstream.seen.length;
    const ws = new WebSocket(`${gh.url.replace('http', 'ws')}/ml/ws`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    const echoed = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
    ws.send('hi');
    assert.equal(await echoed, 'hi');
    ws.close();
    const seen = upstream.seen.slice(before).find((s) => s.method === 'UPGRADE')!;
    assert.equal(seen.headers.authorization, undefined);
    assert.ok(!seen.rawHeaders.join('\n').includes(tokens.access_token));
    const bad = new WebSocket(`${gh.url.replace('http', 'ws')}/ml/ws`, { headers: { 'proxy-authorization': `Bearer ${tokens.access_token}x` } });
    const status = await new Promise<number>((resolve) => bad.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)).once('open', () => resolve(101)));
    assert.equal(status, 401);
  });
});

describe('attacks on the authorization step', () => {
  test('token theft via open redirect_uri: anything but a loopback or oob redirect is refused and never redirected to', async () => {
    const jar = await demoLogin(gh.url, 'alice');
    const { challenge } = pkce();
    const bad = [
      'https://evil.example/cb',
      'http://evil.example:8080/cb',
      'http://127.0.0.1.evil.example:8080/cb',
      'http://127.0.0.1:8080@evil.example/cb',
      'http://evil.example#@127.0.0.1:8080/',
      'https://127.0.0.1:8080/cb',
      'http://127.0.0.1/cb',
      'http://127.0.0.1:0/cb',
      'http://127.0.0.1:8080/cb?x=1',
      'http://10.0.0.1:8080/cb',
      'javascript:alert(1)//127.0.0.1:80/',
      '',
    ];
    for (const redirectUri of bad) {
      const res = await jarFetch(jar, authorizeUrl(gh.url, { redirectUri, state: 's', challenge }), { headers: { accept: 'application/json' } });
      assert.equal(res.status, 400, redirectUri);
      assert.equal(res.headers.get('location'), null);
      assert.equal(codeOf(await res.text()), 'CLI_REQUEST_INVALID');
    }
    // Even a POST carrying a valid CSRF token (taken from a genuine page) cannot change the target.
    const lb = await startLoopback();
    const page = await (await jarFetch(jar, authorizeUrl(gh.url, { redirectUri: lb.redirectUri, state: 's', challenge }), { headers: { accept: 'text/html' } })).text();
    const form = confirmForm(page, 'allow');
    form.set('redirect_uri', 'https://evil.example/cb');
    const posted = await jarFetch(jar, `${gh.url}/.gatehouse/cli/authorize`, { method: 'POST', body: form, headers: { origin: gh.url } });
    assert.equal(posted.status, 400);
    assert.equal(posted.headers.get('location'), null);
    await lb.close();
  });

  test('the authorize request must be a PKCE S256 code request of the CLI client', async () => {
    const jar = await demoLogin(gh.url, 'alice');
    const { challenge } = pkce();
    const o = { redirectUri: 'http://127.0.0.1:5000/callback', state: 's', challenge };
    const cases: Record<string, string>[] = [{ code_challenge_method: 'plain' }, { code_challenge: 'short' }, { client_id: 'other' }, { response_type: 'token' }, { state: '' }];
    for (const extra of cases) {
      const res = await jarFetch(jar, authorizeUrl(gh.url, o, extra), { headers: { accept: 'application/json' } });
      assert.equal(res.status, 400, JSON.stringify(extra));
      assert.equal(res.headers.get('location'), null);
    }
    const twice = await jarFetch(jar, `${authorizeUrl(gh.url, o)}&redirect_uri=${encodeURIComponent('http://127.0.0.1:6000/x')}`);
    assert.equal(twice.status, 400, 'a repeated parameter is refused');
  });

  test('without a session the authorize page sends the browser to sign in and back here', async () => {
    const { challenge } = pkce();
    const url = authorizeUrl(gh.url, { redirectUri: 'http://127.0.0.1:5000/callback', state: 's', challenge });
    const res = await raw(url, { accept: 'text/html', 'sec-fetch-mode': 'navigate' });
    assert.equal(res.status, 302);
    const to = new URL(res.location!);
    assert.equal(to.searchParams.get('rd'), url.slice(gh.url.length));
    // And signing in through that link comes back to the confirm page.
    const jar = await demoLogin(gh.url, 'alice', { rd: to.searchParams.get('rd')! });
    const back = await jarFetch(jar, url, { headers: { accept: 'text/html' } });
    assert.equal(back.status, 200);
  });

  test('login CSRF / consent bypass: the page cannot be framed and a cross-site POST without the token is refused', async () => {
    const jar = await demoLogin(gh.url, 'alice');
    const lb = await startLoopback();
    const { challenge } = pkce();
    const url = authorizeUrl(gh.url, { redirectUri: lb.redirectUri, state: 's', challenge });
    const page = await jarFetch(jar, url, { headers: { accept: 'text/html' } });
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    const csp = page.headers.get('content-security-policy')!;
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, new RegExp(`form-action 'self' ${new URL(lb.redirectUri).origin};`));
    const form = confirmForm(await page.text(), 'allow');
    const post = (body: URLSearchParams, headers: Record<string, string>) => jarFetch(jar, `${gh.url}/.gatehouse/cli/authorize`, { method: 'POST', body, headers });
    const noToken = new URLSearchParams(form);
    noToken.delete('csrf');
    const wrong = new URLSearchParams(form);
    wrong.set('csrf', 'A'.repeat(43));
    for (const [body, headers] of [
      [noToken, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }],
      [noToken, { origin: gh.url }],
      [wrong, { origin: gh.url }],
      [form, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }],
    ] as const) {
      const res = await post(body, headers);
      assert.equal(res.status, 403);
      assert.equal(res.headers.get('location'), null);
    }
    // An application host of the same site (its scripts can read the logout token as JSON): the
    // logout token does not approve, and no post from another origin does, with any token.
    const logoutCsrf = ((await (await jarFetch(jar, `${gh.url}/.gatehouse/logout`)).json()) as { sign_out: { csrf: string } }).sign_out.csrf;
    const withLogoutToken = new URLSearchParams(form);
    withLogoutToken.set('csrf', logoutCsrf);
    assert.equal((await post(withLogoutToken, { origin: gh.url })).status, 403, 'the logout form\'s token is not a CLI approval token');
    for (const headers of [{ origin: 'http://ml.example.test', 'sec-fetch-site': 'same-site' }, { origin: 'http://ml.example.test' }, { 'sec-fetch-site': 'same-site' }] as Record<string, string>[]) {
      assert.equal((await post(form, headers)).status, 403, `same-site application host: ${JSON.stringify(headers)}`);
    }
    // Another user's CSRF token does not work either (it is bound to the session).
    const mallory = await demoLogin(gh.url, 'bob');
    const theirs = confirmForm(await (await jarFetch(mallory, url, { headers: { accept: 'text/html' } })).text(), 'allow');
    assert.equal((await post(theirs, { origin: gh.url })).status, 403);
    assert.equal(lb.received.length, 0, 'no code was ever issued');
    // A GET never approves: the page only shows the buttons.
    assert.equal((await jarFetch(jar, `${url}&decision=allow&csrf=${form.get('csrf')}`)).status, 200);
    assert.equal(lb.received.length, 0);
    await lb.close();
  });

  test('the authorize page is only on Gatehouse\'s own host', async () => {
    const jar = await demoLogin(gh.url, 'alice');
    const { challenge } = pkce();
    const url = authorizeUrl(gh.url, { redirectUri: 'http://127.0.0.1:5000/callback', state: 's', challenge });
    const res = await raw(url, { host: 'ml.example.test', cookie: jar.header()!, accept: 'text/html', 'sec-fetch-mode': 'navigate' });
    assert.equal(res.status, 404);
    assert.equal((await raw(url, { cookie: jar.header()!, accept: 'text/html' })).status, 200, 'but on the public host');
  });
});

describe('attacks on the token endpoint', () => {
  /** A code approved for `redirectUri` by a fresh session of `user`, and its verifier. */
  async function approvedCode(user = 'alice'): Promise<{ code: string; verifier: string; redirectUri: string; jar: CookieJar }> {
    const jar = await demoLogin(gh.url, user);
    const lb = await startLoopback();
    const { verifier, challenge } = pkce();
    const res = await approve(gh.url, jar, authorizeUrl(gh.url, { redirectUri: lb.redirectUri, state: 's', challenge }));
    await lb.close();
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    secrets.push(code, verifier);
    return { code, verifier, redirectUri: lb.redirectUri, jar };
  }
  const exchange = (c: { code: string; verifier: string; redirectUri: string }, over: Record<string, string> = {}) =>
    postForm(TOKEN_URL(), { grant_type: 'authorization_code', code: c.code, code_verifier: c.verifier, redirect_uri: c.redirectUri, client_id: 'gatehouse-cli', ...over });

  test('authorization code replay: a code works once', async () => {
    const c = await approvedCode();
    const first = await exchange(c);
    assert.equal(first.status, 200);
    secrets.push(first.body.access_token as string, first.body.refresh_token as string);
    const second = await exchange(c);
    assert.deepEqual([second.status, second.body.error], [400, 'invalid_grant']);
    assert.ok(second.body.request_id);
  });

  test('PKCE verifier mismatch: refused, and the code is burned (the right verifier then fails too)', async () => {
    const c = await approvedCode();
    const wrong = await exchange(c, { code_verifier: pkce().verifier });
    assert.deepEqual([wrong.status, wrong.body.error], [400, 'invalid_grant']);
    assert.equal((await exchange(c)).status, 400);
    const c2 = await approvedCode();
    assert.equal((await exchange(c2, { code_verifier: '' })).status, 400, 'a missing verifier is refused');
    assert.equal((await exchange(c2)).status, 400, 'and burns the code as well');
  });

  test('code injection with another redirect_uri: refused, and the code is burned', async () => {
    const c = await approvedCode();
    const other = await exchange(c, { redirect_uri: c.redirectUri.replace('/callback', '/other') });
    assert.deepEqual([other.status, other.body.error], [400, 'invalid_grant']);
    assert.equal((await exchange(c)).status, 400);
  });

  test('a code is refused once the approving browser session has ended', async () => {
    const c = await approvedCode();
    const out = await jarFetch(c.jar, `${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { origin: gh.url, accept: 'application/json' } });
    assert.equal(out.status, 200);
    assert.deepEqual((await exchange(c)).body.error, 'invalid_grant');
  });

  test('token endpoint CSRF: GET is refused, a cross-site post is refused, and the browser cookie alone grants nothing', async () => {
    const jar = await demoLogin(gh.url, 'alice');
    const get = await jarFetch(jar, `${TOKEN_URL()}?grant_type=refresh_token`);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    const cross = await jarFetch(jar, TOKEN_URL(), { method: 'POST', body: new URLSearchParams({ grant_type: 'authorization_code', code: 'x' }), headers: { origin: 'https://evil.example' } });
    assert.equal(cross.status, 403);
    const cookieOnly = await jarFetch(jar, TOKEN_URL(), { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token' }) });
    assert.equal(cookieOnly.status, 400);
    const asRefresh = await jarFetch(jar, TOKEN_URL(), { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: `gtr_${jar.get('gatehouse_session')}` }) });
    assert.deepEqual([asRefresh.status, ((await asRefresh.json()) as { error: string }).error], [400, 'invalid_grant'], 'a browser cookie is not a refresh token');
    const revokeGet = await fetch(REVOKE_URL());
    assert.equal(revokeGet.status, 405);
  });

  test('OAuth errors: unsupported grant, missing parameters, not a form', async () => {
    assert.deepEqual((await postForm(TOKEN_URL(), { grant_type: 'password' })).body.error, 'unsupported_grant_type');
    assert.deepEqual((await postForm(TOKEN_URL(), {})).body.error, 'invalid_request');
    assert.deepEqual((await postForm(TOKEN_URL(), { grant_type: 'authorization_code' })).body.error, 'invalid_request');
    const json = await fetch(TOKEN_URL(), { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.deepEqual([json.status, ((await json.json()) as { error: string }).error], [400, 'invalid_request']);
  });
});

describe('attacks with tokens on routes', () => {
  test('forged access token: tampered, sealed under another secret, or a refresh token as bearer -> 401', async () => {
    const { tokens } = await login('alice');
    const claims = gh.app.context.accessTokens.open(tokens.access_token)!;
    const flip = tokens.access_token.slice(0, 30) + (tokens.access_token[30] === 'A' ? 'B' : 'A') + tokens.access_token.slice(31);
    const otherSecret = new AccessTokens([`another-secret-${'x'.repeat(40)}`]).seal({ id: claims.sid, key: claims.key }, Date.now(), Date.now() + 60_000);
    for (const [token, reason] of [
      [flip, 'access-token-invalid'],
      [otherSecret, 'access-token-invalid'],
      [tokens.refresh_token, 'refresh-token-not-bearer'],
      ['gta_', 'access-token-invalid'],
      ['gts_nothing.here', 'service-token-invalid'],
    ] as const) {
      const r = await call('/ml/x', { authorization: `Bearer ${token}` });
      assert.equal(r.status, 401, token);
      assert.equal(codeOf(r.body), 'TOKEN_INVALID');
      assert.equal(r.seen, undefined, 'nothing reached the upstream');
      assert.equal(gh.logs.find((l) => l.event === 'access' && l.reason === reason).length > 0, true, reason);
    }
    const foreign = await call('/ml/x', { 'proxy-authorization': 'Bearer not-ours' });
    assert.equal(foreign.status, 401, 'a Proxy-Authorization bearer is always ours');
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 200, 'the genuine token still works');
  });

  test('expired access token -> 401, though its session lives', async () => {
    const { tokens } = await login('bob');
    const ctx = gh.app.context;
    const c = ctx.accessTokens.open(tokens.access_token)!;
    const now = Date.now();
    const expired = ctx.accessTokens.seal({ id: c.sid, key: c.key }, now - 120_000, now - 1);
    const r = await call('/ml/x', { authorization: `Bearer ${expired}` });
    assert.equal(r.status, 401);
    assert.equal(gh.logs.find((l) => l.event === 'access' && l.reason === 'access-token-expired').length, 1);
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 200);
  });

  test('a request with a Gatehouse bearer never falls back to the cookie; a foreign bearer passes to the upstream', async () => {
    const { jar, tokens } = await login('alice');
    const cookie = jar.header()!;
    assert.equal((await call('/ml/x', { cookie })).status, 200);
    const stale = await call('/ml/x', { cookie, authorization: `Bearer ${tokens.access_token}x` });
    assert.equal(stale.status, 401);
    assert.equal((await call('/public/x', { authorization: `Bearer ${tokens.access_token}x` })).status, 401, 'even on a public route');
    const foreign = await call('/ml/x', { cookie, authorization: 'Bearer upstream-token-123' });
    assert.equal(foreign.status, 200);
    assert.equal(foreign.seen!.headers.authorization, 'Bearer upstream-token-123');
    // GitHub's token prefixes (ghs_ of an Actions job, ghr_, gha_-like ones) are not ours: a CI
    // job's GitHub token passes to the upstream that expects it.
    for (const github of ['ghs_16C7e42F292c6912E7710c838347Ae178B4a', 'ghr_1B4a2e77838347a7E420ce178F2E7c6912E1', 'gha_abc']) {
      const passed = await call('/ml/x', { cookie, authorization: `Bearer ${github}` });
      assert.equal(passed.status, 200, github);
      assert.equal(passed.seen!.headers.authorization, `Bearer ${github}`, github);
    }
    const twoOfOurs = await call('/ml/x', { authorization: `Bearer ${tokens.access_token}`, 'proxy-authorization': `Bearer ${tokens.refresh_token}` });
    assert.equal(twoOfOurs.status, 401, 'two different tokens of ours are ambiguous');
  });

  test('a refresh token pasted into the session cookie opens nothing (a cookie opens browser sessions only)', async () => {
    const { tokens } = await login('dan');
    const r = await call('/ml/x', { cookie: `gatehouse_session=${tokens.refresh_token.slice(4)}` });
    assert.equal(r.status, 401);
    assert.equal(codeOf(r.body), 'AUTHENTICATION_REQUIRED');
    assert.equal(r.seen, undefined);
  });

  test('CLI or service token pasted into the cookie: userinfo/logout treat it as nobody (the CLI session lives on)', async () => {
    const { tokens } = await login('dan');
    const cookie = `gatehouse_session=${tokens.refresh_token.slice(4)}`;
    const info = await call('/.gatehouse/userinfo', { cookie });
    assert.equal(info.status, 401, 'userinfo: nobody is signed in');
    const confirm = JSON.parse((await call('/.gatehouse/logout', { cookie })).body) as { signed_in: boolean; sign_out: { csrf?: string } };
    assert.equal(confirm.signed_in, false, 'the logout page sees nobody');
    assert.equal(confirm.sign_out.csrf, undefined);
    const out = await fetch(`${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { cookie, origin: gh.url, accept: 'application/json' } });
    assert.equal(out.status, 200);
    assert.deepEqual(await out.json(), { signed_out: true, cli_sessions_ended: 0 });
    assert.equal(gh.logs.find((l) => l.event === 'logout' && l.user === 'dan@example.com').length, 0, 'no logout of dan is logged');
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 200, 'the CLI session still works: a cookie cannot end it');
  });

  test('a browser cookie sealed into an access token is refused (only CLI sessions)', async () => {
    const jar = await demoLogin(gh.url, 'alice');
    const [id, key] = jar.get('gatehouse_session')!.split('.') as [string, string];
    const forged = gh.app.context.accessTokens.seal({ id, key }, Date.now(), Date.now() + 60_000);
    const r = await call('/ml/x', { authorization: `Bearer ${forged}` });
    assert.equal(r.status, 401);
    assert.equal(gh.logs.find((l) => l.event === 'access' && l.reason === 'not-a-cli-session').length, 1);
  });

  test('admin revoke by email ends the CLI session and its access tokens', async () => {
    const { tokens } = await login('erin');
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 200);
    const res = await fetch(`${gh.url}/.gatehouse/admin/sessions/revoke`, { method: 'POST', body: JSON.stringify({ email: 'erin@example.com' }), headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } });
    assert.equal(res.status, 200);
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 401);
    assert.equal((await postForm(TOKEN_URL(), { grant_type: 'refresh_token', refresh_token: tokens.refresh_token })).body.error, 'invalid_grant');
  });

  test('SCIM deactivation ends the CLI session and its access tokens', async () => {
    const { tokens } = await login('frank');
    const scim = (path: string, init: RequestInit) => fetch(`${gh.url}/.gatehouse/scim/v2/${path}`, { ...init, headers: { authorization: `Bearer ${SCIM_TOKEN}`, 'content-type': 'application/scim+json' } });
    const body = { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'frank@example.com', emails: [{ value: 'frank@example.com', primary: true }], active: true };
    const user = (await (await scim('Users', { method: 'POST', body: JSON.stringify(body) })).json()) as { id: string };
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 200);
    const patch = await scim(`Users/${user.id}`, { method: 'PATCH', body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] }) });
    assert.equal(patch.status, 200);
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 401);
    assert.equal((await postForm(TOKEN_URL(), { grant_type: 'refresh_token', refresh_token: tokens.refresh_token })).body.error, 'invalid_grant');
  });

  test('deprovisioning race: a SCIM deactivation landing while a code is redeemed leaves no working CLI session', async () => {
    const jar = await demoLogin(gh.url, 'ivan');
    const scim = (path: string, init: RequestInit) => fetch(`${gh.url}/.gatehouse/scim/v2/${path}`, { ...init, headers: { authorization: `Bearer ${SCIM_TOKEN}`, 'content-type': 'application/scim+json' } });
    const body = { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'ivan@example.com', emails: [{ value: 'ivan@example.com', primary: true }], active: true };
    const user = (await (await scim('Users', { method: 'POST', body: JSON.stringify(body) })).json()) as { id: string };
    const sessions = gh.app.context.sessions;
    const create = sessions.create.bind(sessions);
    // The deactivation lists ivan's sessions just before the CLI session exists, then lands.
    sessions.create = async (identity, saml, opts) => {
      const made = await create(identity, saml, opts);
      if (opts?.client === 'cli') {
        const patch = await scim(`Users/${user.id}`, { method: 'PATCH', body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] }) });
        assert.equal(patch.status, 200);
      }
      return made;
    };
    try {
      await assert.rejects(cliLogin(gh.url, jar), /invalid_grant|deactivated|400/);
    } finally {
      sessions.create = create;
    }
    const left = await gh.app.context.sessionAdmin.list('ivan@example.com');
    assert.deepEqual(left.sessions, [], 'no session of ivan survives');
  });

  test('token left behind on a signed-out laptop: browser sign-out ends the CLI logins that browser approved, and only those', async () => {
    const laptop = await login('heidi');
    const desktop = await login('heidi');
    const bearer = (t: { access_token: string }) => ({ authorization: `Bearer ${t.access_token}` });
    assert.equal((await call('/ml/x', bearer(laptop.tokens))).status, 200);
    const out = await jarFetch(laptop.jar, `${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { origin: gh.url, accept: 'application/json' } });
    assert.deepEqual(await out.json(), { signed_out: true, cli_sessions_ended: 1 });
    const refused = await call('/ml/x', bearer(laptop.tokens));
    assert.deepEqual([refused.status, codeOf(refused.body), refused.seen], [401, 'TOKEN_INVALID', undefined], 'the laptop\'s CLI token ended with its sign-out');
    assert.equal((await postForm(TOKEN_URL(), { grant_type: 'refresh_token', refresh_token: laptop.tokens.refresh_token })).body.error, 'invalid_grant', 'and cannot be refreshed');
    assert.equal((await call('/ml/x', bearer(desktop.tokens))).status, 200, 'the CLI login approved from the other browser lives on');
    assert.equal((await jarFetch(desktop.jar, `${gh.url}/ml/x`, { headers: { accept: 'application/json' } })).status, 200, 'and so does that browser');
    assert.equal(gh.logs.find((l) => l.event === 'logout' && l.user === 'heidi@example.com').at(-1)?.cli_sessions_ended, 1, 'the logout line says what it ended');
  });

  test('orphaned CLI login after a step-up: a sign-in replacing the browser session keeps its lineage, so sign-out still ends the CLI login', async () => {
    const { jar, tokens } = await login('carol');
    const again = await demoLoginUntilAcs(gh.url, 'carol', { jar });
    assert.equal((await postToAcs(again)).status, 303);
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 200, 'signing in again does not end the CLI login');
    const out = await jarFetch(jar, `${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { origin: gh.url, accept: 'application/json' } });
    assert.deepEqual(await out.json(), { signed_out: true, cli_sessions_ended: 1 });
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 401);
  });

  test('token left behind after the browser session idled out: signing out with the idled-out cookie still ends the CLI login', async () => {
    const { jar, tokens } = await login('alice');
    const ctx = gh.app.context;
    // What idling out does: the store lets the browser session's entry expire (the CLI's lives on).
    const browserId = jar.get('gatehouse_session')!.split('.')[0]!;
    await ctx.stores.sessions.delete([browserId]);
    await ctx.stores.sessions.announceEnded([browserId]);
    assert.equal((await jarFetch(jar, `${gh.url}/ml/x`, { headers: { accept: 'application/json' } })).status, 401, 'the browser is signed out by idling');
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 200, 'the CLI login outlives it');
    const logged = gh.logs.find((l) => l.event === 'logout' && l.user === 'alice@example.com').length;
    const out = await jarFetch(jar, `${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { origin: gh.url, accept: 'application/json' } });
    assert.deepEqual(await out.json(), { signed_out: true, cli_sessions_ended: 1 });
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 401);
    const lines = gh.logs.find((l) => l.event === 'logout' && l.user === 'alice@example.com');
    assert.equal(lines.length, logged + 1, 'the sign-out that ended the CLI login is logged');
    assert.equal(lines.at(-1)?.cli_sessions_ended, 1);
  });

  test('signing in again after idling out continues the lineage: a later sign-out still ends the CLI login', async () => {
    const { jar, tokens } = await login('alice');
    const browserId = jar.get('gatehouse_session')!.split('.')[0]!;
    await gh.app.context.stores.sessions.delete([browserId]);
    await gh.app.context.stores.sessions.announceEnded([browserId]);
    assert.equal((await postToAcs(await demoLoginUntilAcs(gh.url, 'alice', { jar }))).status, 303);
    const out = await jarFetch(jar, `${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { origin: gh.url, accept: 'application/json' } });
    assert.deepEqual(await out.json(), { signed_out: true, cli_sessions_ended: 1 });
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 401);
  });

  test('two tabs signing in again at once: the lineage survives whichever finishes last', async () => {
    const { jar, tokens } = await login('heidi');
    const tab1 = await demoLoginUntilAcs(gh.url, 'heidi', { jar });
    const tab2 = await demoLoginUntilAcs(gh.url, 'heidi', { jar });
    assert.equal((await postToAcs(tab1)).status, 303);
    assert.equal((await postToAcs(tab2)).status, 303, 'the second tab replaces the first tab\'s new session');
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 200);
    const out = await jarFetch(jar, `${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { origin: gh.url, accept: 'application/json' } });
    assert.deepEqual(await out.json(), { signed_out: true, cli_sessions_ended: 1 });
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 401);
  });

  test('sign-out racing a code redemption: a CLI session made after the sign-out listed the lineage is ended, not left working', async () => {
    const jar = await demoLogin(gh.url, 'judy');
    const sessions = gh.app.context.sessions;
    const create = sessions.create.bind(sessions);
    // The sign-out runs while the code is redeemed; the CLI session the redemption goes on with
    // is one made after the sign-out listed the lineage (the sign-out ends the one it found).
    sessions.create = async (identity, saml, opts) => {
      if (opts?.client !== 'cli') return create(identity, saml, opts);
      await create(identity, saml, opts);
      const out = await jarFetch(jar, `${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { origin: gh.url, accept: 'application/json' } });
      assert.deepEqual(await out.json(), { signed_out: true, cli_sessions_ended: 1 }, 'the sign-out ends the CLI session it found');
      return create(identity, saml, opts);
    };
    try {
      await assert.rejects(cliLogin(gh.url, jar), /invalid_grant|has ended|400/);
    } finally {
      sessions.create = create;
    }
    const left = await gh.app.context.sessionAdmin.list('judy@example.com');
    assert.deepEqual(left.sessions.filter((s) => s.client === 'cli'), [], 'no CLI session of judy survives');
  });

  test('shared browser: another user signing in on it starts a new lineage; signing them out leaves the first user\'s CLI login alone', async () => {
    const { jar, tokens } = await login('erin');
    const other = await demoLoginUntilAcs(gh.url, 'bob', { jar });
    const acs = await postToAcs(other);
    assert.equal(acs.status, 303, await acs.clone().text());
    const out = await jarFetch(jar, `${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { origin: gh.url, accept: 'application/json' } });
    assert.deepEqual(await out.json(), { signed_out: true, cli_sessions_ended: 0 });
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 200, 'erin\'s CLI login is not bob\'s to end');
  });

  test('CLI login flood from one browser sign-in: past 50 live CLI sessions the next is refused, ending one makes room, signing out ends them all', async () => {
    const jar = await demoLogin(gh.url, 'grace');
    const made = [];
    for (let i = 0; i < 50; i++) made.push(await cliLogin(gh.url, jar));
    secrets.push(...made.flatMap((t) => [t.access_token, t.refresh_token]));
    await assert.rejects(cliLogin(gh.url, jar), /invalid_grant|50 live CLI logins/);
    assert.equal((await postForm(REVOKE_URL(), { token: made[0]!.refresh_token })).status, 200);
    const again = await cliLogin(gh.url, jar);
    secrets.push(again.access_token, again.refresh_token);
    assert.equal((await call('/ml/x', { authorization: `Bearer ${again.access_token}` })).status, 200);
    const out = await jarFetch(jar, `${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { origin: gh.url, accept: 'application/json' } });
    assert.deepEqual(await out.json(), { signed_out: true, cli_sessions_ended: 50 });
  });

  test('a CLI session ends no later than the browser session that approved it (no second max_lifetime)', async () => {
    const { jar, tokens } = await login('judy');
    const ctx = gh.app.context;
    const browser = (await ctx.sessions.open(jar.get('gatehouse_session')!))!;
    const cli = (await ctx.sessions.open(tokens.refresh_token.slice(4)))!;
    assert.equal(cli.client, 'cli');
    assert.ok(cli.expiresAt <= browser.expiresAt, `CLI ends ${cli.expiresAt - browser.expiresAt} ms after the browser login`);
    const listed = (await (await fetch(`${gh.url}/.gatehouse/admin/sessions?email=judy%40example.com`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { sessions: { client: string }[] };
    assert.deepEqual(listed.sessions.map((x) => x.client).sort(), ['browser', 'cli'], 'administrators see which session is the CLI\'s');
  });

  test('Single Logout reaches the CLI session: it is filed under the IdP NameID index the SLO endpoint revokes', async () => {
    const { tokens } = await login('grace');
    const ctx = gh.app.context;
    const cli = (await ctx.sessions.open(tokens.refresh_token.slice(4)))!;
    assert.equal(cli.client, 'cli');
    assert.ok(cli.saml.issuer && cli.saml.nameId, 'the CLI session keeps the SAML facts of the approving login');
    const { revoked } = await ctx.sessionAdmin.revokeSamlSubject({ connection: cli.identity.connection, issuer: cli.saml.issuer!, nameId: cli.saml.nameId });
    assert.ok(revoked.includes(tokens.refresh_token.slice(4).split('.')[0]!), 'the CLI session is among those a LogoutRequest for this NameID ends');
    assert.equal((await call('/ml/x', { authorization: `Bearer ${tokens.access_token}` })).status, 401);
  });

  test('a websocket opened with an access token closes when its CLI session is revoked', async () => {
    const { tokens } = await login('heidi');
    const ws = new WebSocket(`${gh.url.replace('http', 'ws')}/ml/ws`, { headers: { 'proxy-authorization': `Bearer ${tokens.access_token}` } });
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    assert.deepEqual((await postForm(REVOKE_URL(), { token: tokens.refresh_token })).body, {});
    await Promise.race([closed, new Promise((_r, reject) => setTimeout(() => reject(new Error('the websocket outlived its CLI session')), 3000))]);
  });

  test('tokens, codes and verifiers never appear in the logs', () => {
    assert.ok(secrets.length > 10);
    const text = gh.logs.text();
    for (const s of secrets) {
      assert.ok(!text.includes(s), 'a token, code or verifier was logged');
      const inner = s.startsWith('gtr_') ? s.slice(4) : undefined;
      if (inner) assert.ok(!text.includes(inner.split('.')[1]!), 'a session key was logged');
    }
  });
});
