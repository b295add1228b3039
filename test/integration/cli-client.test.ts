/**
 * The real `gatehouse` CLI (child process) against a real Gatehouse (in-process, demo IdP) and a
 * recording upstream: login through the loopback redirect and the headless code, token refresh,
 * logout revocation, curl and exec with the token, and the attacks each step stops. The browser
 * part is driven over HTTP with a signed-in cookie jar, as a browser would.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createPkce } from '../../proxy/cli/pkce.js';
import type { CookieJar } from '../helpers/cookie-jar.js';
import { demoLogin } from '../helpers/demo-login.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { authorizeUrlOf, cliEnv, confirmInBrowser, runCli, startCli, tempConfigDir } from '../helpers/gatehouse-cli.js';
import { startTestUpstream, type SeenRequest, type TestUpstream } from '../helpers/upstream.js';

let gh: RunningGatehouse;
let upstream: TestUpstream;
const dirs: string[] = [];
const users = [
  { name: 'alice', email: 'alice@example.com', groups: ['ml-engineers'] },
  { name: 'mallory', email: 'mallory@example.com', groups: ['ml-engineers'] },
];

before(async () => {
  upstream = await startTestUpstream();
  gh = await startGatehouse({
    config: { demo: true },
    connections: [{ id: 'demo', demo_idp: { users } }],
    routes: [
      // `localhost` is a host this Gatehouse names, so it vouches for it (another host of one Gatehouse).
      { name: 'app-on-localhost', host: 'localhost', path: '/app', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] },
      { name: 'app', path: '/app', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] },
    ],
  });
});
after(async () => {
  await gh.stop();
  await upstream.close();
  for (const d of dirs) rmSync(join(d, '..'), { recursive: true, force: true });
});

function newDir(): string {
  const d = tempConfigDir();
  dirs.push(d);
  return d;
}
type Creds = Record<string, { refresh_token: string; access_token: string; access_expires_at: string; user: string; hosts: string[] }>;
const credsOf = (dir: string): Creds => JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as Creds;
const header = (r: SeenRequest, name: string) => r.headers[name];
const seenAt = (url: string) => upstream.seen.filter((r) => r.url === url);

/** POSTs a form to the token or revocation endpoint, as the CLI does. */
async function postForm(url: string, fields: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', body: new URLSearchParams(fields) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The browser's part: follow the 303 to the CLI's loopback listener like a browser would. */
async function allowInBrowser(jar: CookieJar, url: string, decision: 'allow' | 'deny' = 'allow'): Promise<Response> {
  const posted = await confirmInBrowser(gh.url, jar, url, decision);
  assert.equal(posted.status, 303, `approve answered ${posted.status}`);
  return fetch(posted.headers.get('location')!);
}

/** `gatehouse login` as `user` through the loopback redirect; returns the config dir. */
async function loginAs(user: string, dir = newDir(), url = gh.url): Promise<string> {
  const cli = startCli(['login', url], cliEnv(dir));
  const authorize = await authorizeUrlOf(cli);
  const landed = await allowInBrowser(await demoLogin(gh.url, user), authorize);
  assert.equal(landed.status, 200);
  assert.match(await landed.text(), /close this tab/);
  assert.equal(await cli.exited, 0, cli.stderr());
  assert.match(cli.stdout(), new RegExp(`^Signed in to ${gh.url} as ${user}@example.com$`, 'm'));
  return dir;
}

describe('gatehouse login (loopback redirect)', () => {
  test('signs in, stores working tokens 0600 in a 0700 dir, and curl reaches the upstream as the user', async () => {
    const dir = await loginAs('alice');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'credentials.json')).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['credentials.json']);
    const entry = credsOf(dir)[gh.url]!;
    assert.match(entry.refresh_token, /^gtr_/);
    assert.match(entry.access_token, /^gta_/);
    assert.equal(entry.user, 'alice@example.com');
    assert.deepEqual(entry.hosts, [gh.url]);
    assert.ok(Date.parse(entry.access_expires_at) > Date.now() + 10 * 60_000, '15 min access token');

    const res = await runCli(['curl', '-sS', `${gh.url}/app/curl-1`], cliEnv(dir));
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'ok');
    const [seen] = seenAt('/app/curl-1');
    assert.ok(seen, 'the upstream got the request');
    assert.equal(header(seen, 'x-forwarded-user'), 'alice@example.com');
    assert.equal(header(seen, 'proxy-authorization'), undefined, 'our token is never forwarded');
    assert.equal(header(seen, 'authorization'), undefined);
    for (const tok of [entry.access_token, entry.refresh_token]) {
      assert.ok(!gh.logs.text().includes(tok), 'no token in Gatehouse logs');
      assert.ok(!res.stdout.includes(tok) && !res.stderr.includes(tok), 'no token in the CLI output');
    }
  });

  test('orphaned CLI session: a login that cannot be stored (the file locked by another command) revokes the session it made', async () => {
    const dir = newDir();
    const cliSessions = async () => (await gh.app.context.sessionAdmin.list('mallory@example.com')).sessions.filter((x) => x.client === 'cli').length;
    const before = await cliSessions();
    const cli = startCli(['login', gh.url], cliEnv(dir));
    const authorize = await authorizeUrlOf(cli);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'credentials.json.lock'), 'held by another command');
    const landed = await allowInBrowser(await demoLogin(gh.url, 'mallory'), authorize);
    await landed.text();
    assert.equal(await cli.exited, 1, cli.stderr());
    assert.match(cli.stderr(), /is held by another gatehouse command; if none is running, remove it/);
    assert.equal(await cliSessions(), before, 'the CLI session made for the lost login was revoked');
  });

  test('a credentials file it cannot use is reported before anyone signs in (no session made)', async () => {
    const dir = newDir();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'credentials.json'), JSON.stringify({ 'https://other.example': { refresh_token: 'gtr_x.y', user: 'x', hosts: 'https://other.example' } }), { mode: 0o600 });
    const res = await runCli(['login', gh.url], cliEnv(dir));
    assert.equal(res.code, 1);
    assert.match(res.stderr, /not a valid credentials file \(the entry of https:\/\/other\.example has hosts that are not a list of origins\)/);
    assert.doesNotMatch(res.stdout, /cli\/authorize/, 'no sign-in was offered');
  });

  test('signing in again revokes the CLI session it replaces', async () => {
    const dir = await loginAs('alice');
    const first = credsOf(dir)[gh.url]!.refresh_token;
    await loginAs('alice', dir);
    const second = credsOf(dir)[gh.url]!.refresh_token;
    assert.notEqual(second, first);
    const old = await postForm(`${gh.url}/.gatehouse/cli/token`, { grant_type: 'refresh_token', refresh_token: first });
    assert.equal(old.body.error, 'invalid_grant', 'the replaced session ended');
    const current = await postForm(`${gh.url}/.gatehouse/cli/token`, { grant_type: 'refresh_token', refresh_token: second });
    assert.equal(current.status, 200);
  });

  test('a URL on another host of the same Gatehouse: tokens stored under the issuer, that host remembered', async () => {
    const other = gh.url.replace('127.0.0.1', 'localhost');
    const dir = await loginAs('alice', newDir(), `${other}/app/somewhere`);
    const creds = credsOf(dir);
    assert.deepEqual(Object.keys(creds), [gh.url], 'keyed by the issuer');
    assert.deepEqual(creds[gh.url]!.hosts, [other]);
    const res = await runCli(['curl', '-sS', `${other}/app/via-localhost`], cliEnv(dir));
    assert.equal(res.code, 0, res.stderr);
    assert.equal(header(seenAt('/app/via-localhost')[0]!, 'x-forwarded-user'), 'alice@example.com');
  });

  test('token theft through a look-alike host: a site serving a copy of the discovery document is refused at login, never remembered', async () => {
    const real = (await (await fetch(`${gh.url}/.well-known/gatehouse/configuration`)).json()) as Record<string, unknown>;
    const seen: string[] = [];
    const lookalike = createServer((req, res) => {
      seen.push(`${req.headers['proxy-authorization'] ?? ''}${req.headers.authorization ?? ''}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(real));
    });
    await new Promise<void>((r) => lookalike.listen(0, '127.0.0.2', r));
    try {
      const evil = `http://127.0.0.2:${(lookalike.address() as AddressInfo).port}`;
      const dir = newDir();
      const res = await runCli(['login', evil], cliEnv(dir));
      assert.equal(res.code, 1);
      assert.match(res.stderr, /is not a host the Gatehouse at .* names/);
      assert.throws(() => statSync(join(dir, 'credentials.json')), 'nothing stored');
      const vouch = (await (await fetch(`${gh.url}/.well-known/gatehouse/configuration?host=${encodeURIComponent(new URL(evil).host)}`)).json()) as { host_served: boolean };
      assert.equal(vouch.host_served, false, 'a route without host: vouches for no other host');
      assert.ok(seen.every((h) => h === ''), 'no token ever reached it');
    } finally {
      lookalike.close();
    }
  });

  test('login CSRF on the loopback callback: a code for another user pushed with a wrong state is refused; the login ends as the right user', async () => {
    const dir = newDir();
    const cli = startCli(['login', gh.url], cliEnv(dir));
    const authorize = new URL(await authorizeUrlOf(cli));
    const redirectUri = authorize.searchParams.get('redirect_uri')!;
    assert.match(redirectUri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/, 'listens on 127.0.0.1');
    // Mallory approves a login of her own aimed at the victim's listener (her state, her challenge).
    const forged = new URL(authorize);
    forged.searchParams.set('state', 'mallorys-state');
    forged.searchParams.set('code_challenge', createPkce().challenge);
    const pushed = await allowInBrowser(await demoLogin(gh.url, 'mallory'), forged.href);
    assert.equal(pushed.status, 400, 'the listener refuses the forged callback');
    assert.match(await pushed.text(), /state mismatch/);
    const landed = await allowInBrowser(await demoLogin(gh.url, 'alice'), authorize.href);
    assert.equal(landed.status, 200);
    assert.equal(await cli.exited, 0, cli.stderr());
    assert.match(cli.stderr(), /state does not match/);
    assert.equal(credsOf(dir)[gh.url]!.user, 'alice@example.com', 'signed in as alice, never as mallory');
    await assert.rejects(fetch(`${redirectUri}?code=x&state=${authorize.searchParams.get('state')}`), 'the listener closed after its one callback');
  });

  test('Deny in the browser: the login ends with exit 1 and nothing stored', async () => {
    const dir = newDir();
    const cli = startCli(['login', gh.url], cliEnv(dir));
    const landed = await allowInBrowser(await demoLogin(gh.url, 'alice'), await authorizeUrlOf(cli), 'deny');
    assert.equal(landed.status, 200);
    assert.equal(await cli.exited, 1);
    assert.match(cli.stderr(), /denied in the browser/);
    assert.throws(() => statSync(join(dir, 'credentials.json')));
  });

  test('refuses a non-Gatehouse URL and plain http to a non-loopback host', async () => {
    const dir = newDir();
    const notOurs = await runCli(['login', upstream.url], cliEnv(dir));
    assert.equal(notOurs.code, 1);
    assert.match(notOurs.stderr, /is http:\/\/127\.0\.0\.1:\d+ a Gatehouse with CLI access\?/);
    const plain = await runCli(['login', 'http://gatehouse.example.invalid'], cliEnv(dir));
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /not https/);
  });
});

describe('gatehouse login --no-browser (headless)', () => {
  test('the browser shows a code, typed into the CLI, signs in', async () => {
    const dir = newDir();
    const cli = startCli(['login', '--no-browser', gh.url], cliEnv(dir));
    const authorize = await authorizeUrlOf(cli);
    assert.equal(new URL(authorize).searchParams.get('redirect_uri'), 'urn:ietf:wg:oauth:2.0:oob');
    await cli.line(/Enter the code shown in the browser:/);
    const shown = await confirmInBrowser(gh.url, await demoLogin(gh.url, 'alice'), authorize);
    assert.equal(shown.status, 200);
    const code = /<code id="code">([^<]+)<\/code>/.exec(await shown.text())?.[1];
    assert.match(code ?? '', /^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    cli.child.stdin!.end(`${code!.toLowerCase().replace(/-/g, ' ')}\n`);
    assert.equal(await cli.exited, 0, cli.stderr());
    assert.match(cli.stdout(), /Signed in to .* as alice@example\.com/);
    const res = await runCli(['curl', '-sS', `${gh.url}/app/headless`], cliEnv(dir));
    assert.equal(res.stdout, 'ok');
    assert.equal(header(seenAt('/app/headless')[0]!, 'x-forwarded-user'), 'alice@example.com');
  });

  test('over SSH without a display the login is headless by itself', async () => {
    const dir = newDir();
    const cli = startCli(['login', gh.url], cliEnv(dir, { SSH_CONNECTION: '10.0.0.1 50000 10.0.0.2 22' }));
    assert.equal(new URL(await authorizeUrlOf(cli)).searchParams.get('redirect_uri'), 'urn:ietf:wg:oauth:2.0:oob');
    cli.child.stdin!.end();
    assert.equal(await cli.exited, 1);
    assert.match(cli.stderr(), /no code entered/);
  });

  test('no browser on this machine and no SSH either (a container, a notebook terminal): the code flow, not a loopback redirect that would never arrive', async () => {
    const dir = newDir();
    const cli = startCli(['login', gh.url], cliEnv(dir, { GATEHOUSE_BROWSER: '' }));
    assert.equal(new URL(await authorizeUrlOf(cli)).searchParams.get('redirect_uri'), 'urn:ietf:wg:oauth:2.0:oob');
    cli.child.stdin!.end();
    assert.equal(await cli.exited, 1);
  });

  test('a wrong code is refused: exit 1, nothing stored', async () => {
    const dir = newDir();
    const res = await runCli(['login', '--no-browser', gh.url], cliEnv(dir), { input: 'AAAA-BBBB-CCCC\n' });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /invalid_grant/);
    assert.throws(() => statSync(join(dir, 'credentials.json')));
  });
});

describe('gatehouse token', () => {
  test('prints the stored token while fresh; refreshes an expired one, stores it, and it works', async () => {
    const dir = await loginAs('alice');
    const stored = credsOf(dir)[gh.url]!;
    const first = await runCli(['token'], cliEnv(dir));
    assert.equal(first.code, 0);
    assert.equal(first.stdout, `${stored.access_token}\n`);

    const creds = credsOf(dir);
    creds[gh.url]!.access_expires_at = new Date(Date.now() - 1000).toISOString();
    writeFileSync(join(dir, 'credentials.json'), JSON.stringify(creds), { mode: 0o600 });
    const second = await runCli(['token', '--host', `${gh.url}/app`], cliEnv(dir));
    assert.equal(second.code, 0, second.stderr);
    const fresh = second.stdout.trim();
    assert.match(fresh, /^gta_/);
    assert.notEqual(fresh, stored.access_token, 'a new token');
    assert.equal(credsOf(dir)[gh.url]!.access_token, fresh, 'stored back');
    assert.ok(Date.parse(credsOf(dir)[gh.url]!.access_expires_at) > Date.now() + 60_000);
    const res = await fetch(`${gh.url}/app/refreshed`, { headers: { 'proxy-authorization': `Bearer ${fresh}` } });
    assert.equal(res.status, 200);
    assert.equal(header(seenAt('/app/refreshed')[0]!, 'x-forwarded-user'), 'alice@example.com');
  });

  test('once the session ended (revoked elsewhere): exit 1 telling to run gatehouse login', async () => {
    const dir = await loginAs('alice');
    const creds = credsOf(dir);
    assert.equal((await postForm(`${gh.url}/.gatehouse/cli/revoke`, { token: creds[gh.url]!.refresh_token })).status, 200);
    creds[gh.url]!.access_expires_at = new Date(0).toISOString();
    writeFileSync(join(dir, 'credentials.json'), JSON.stringify(creds), { mode: 0o600 });
    const res = await runCli(['token'], cliEnv(dir));
    assert.equal(res.code, 1);
    assert.match(res.stderr, new RegExp(`session at ${gh.url} has ended: run gatehouse login ${gh.url}`));
    assert.equal(res.stdout, '');
  });

  test('tokens readable by other users: a credentials file with mode 0644 is refused', async () => {
    const dir = await loginAs('alice');
    chmodSync(join(dir, 'credentials.json'), 0o644);
    const res = await runCli(['token'], cliEnv(dir));
    assert.equal(res.code, 1);
    assert.match(res.stderr, /mode 0644.*chmod 600/);
    assert.equal(res.stdout, '', 'no token printed');
  });

  test('not signed in: exit 1 with the way in; several issuers without --host: exit 2', async () => {
    const dir = newDir();
    const none = await runCli(['token'], cliEnv(dir));
    assert.equal(none.code, 1);
    assert.match(none.stderr, /not signed in: run gatehouse login https:\/\/<your Gatehouse>/);
    await loginAs('alice', dir);
    const creds = credsOf(dir);
    creds['https://other.example'] = { ...creds[gh.url]!, hosts: [] };
    writeFileSync(join(dir, 'credentials.json'), JSON.stringify(creds), { mode: 0o600 });
    const two = await runCli(['token'], cliEnv(dir));
    assert.equal(two.code, 2);
    assert.match(two.stderr, /pass --host URL/);
  });
});

describe('gatehouse logout', () => {
  test('revokes: the old refresh token is refused, the old access token gets 401 TOKEN_INVALID, the entry is gone', async () => {
    const dir = await loginAs('alice');
    const old = credsOf(dir)[gh.url]!;
    const res = await runCli(['logout'], cliEnv(dir));
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`Signed out of ${gh.url}`));
    assert.deepEqual(credsOf(dir), {});
    const refreshed = await postForm(`${gh.url}/.gatehouse/cli/token`, { grant_type: 'refresh_token', refresh_token: old.refresh_token });
    assert.equal(refreshed.status, 400);
    assert.equal(refreshed.body.error, 'invalid_grant');
    const api = await fetch(`${gh.url}/app/after-logout`, { headers: { 'proxy-authorization': `Bearer ${old.access_token}`, accept: 'application/json' } });
    assert.equal(api.status, 401);
    assert.equal(((await api.json()) as { error: { code: string } }).error.code, 'TOKEN_INVALID');
    assert.equal(seenAt('/app/after-logout').length, 0);
    const again = await runCli(['token'], cliEnv(dir));
    assert.equal(again.code, 1);
  });

  test('offline: forgets the tokens anyway and says the session was not revoked (exit 1)', async () => {
    const dir = await loginAs('alice');
    const creds = credsOf(dir);
    const entry = creds[gh.url]!;
    delete creds[gh.url];
    creds['http://127.0.0.1:9'] = entry; // nothing listens on the discard port
    writeFileSync(join(dir, 'credentials.json'), JSON.stringify(creds), { mode: 0o600 });
    const res = await runCli(['logout'], cliEnv(dir));
    assert.equal(res.code, 1);
    assert.match(res.stderr, /could not revoke/);
    assert.match(res.stdout, /on this computer only/);
    assert.deepEqual(credsOf(dir), {});
    assert.ok(!res.stderr.includes(entry.refresh_token));
  });
});

describe('gatehouse curl', () => {
  test('the token is never on the command line (ps): curl gets it through /dev/fd/3; curl\'s exit code is returned', async () => {
    const dir = await loginAs('alice');
    const token = credsOf(dir)[gh.url]!.access_token;
    const cli = startCli(['curl', '-sS', `${gh.url}/app/slow?ms=1500`], cliEnv(dir));
    const cmdlines: string[] = [];
    const deadline = Date.now() + 15_000;
    // Every command line of its children seen while it runs (a child seen between fork and exec still shows node's).
    while (!cmdlines.some((c) => c.startsWith('curl ')) && Date.now() < deadline) {
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
          if (ppid === cli.child.pid) cmdlines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '));
        } catch {
          /* gone */
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const curl = cmdlines.find((c) => c.startsWith('curl '));
    assert.match(curl ?? '', /^curl -q --noproxy \* -H @\/dev\/fd\/3 -sS /, 'found the curl child (-q: no ~/.curlrc; plain http: no proxy from the environment)');
    for (const c of cmdlines) assert.ok(!c.includes(token) && !c.includes('gta_'), `no token in argv: ${c}`);
    assert.equal(await cli.exited, 0, cli.stderr());
    assert.equal(cli.stdout(), 'slow');
    const failed = await runCli(['curl', '-sS', '-f', `${gh.url}/app/status/503`], cliEnv(dir));
    assert.equal(failed.code, 22, "curl's own exit code for an HTTP error with -f");
  });

  test('token sent to another host: curl to a host not signed in is refused and nothing is sent', async () => {
    const dir = await loginAs('alice');
    const before = upstream.seen.length;
    const res = await runCli(['curl', '--host', gh.url, '-sS', `${upstream.url}/direct`], cliEnv(dir));
    assert.equal(res.code, 2);
    assert.match(res.stderr, /sends your token only to/);
    const guessed = await runCli(['curl', '--host', gh.url, '-sS', upstream.url.replace('http://', '')], cliEnv(dir));
    assert.equal(guessed.code, 2, 'a URL without its scheme (curl would guess the host and http)');
    assert.match(guessed.stderr, /not a full http\(s\) URL/);
    const hidden = await runCli(['curl', '-sS', `${gh.url}/app/x`, '--url', `${upstream.url}/direct`], cliEnv(dir));
    assert.equal(hidden.code, 2, 'a second URL after --url');
    const backslash = await runCli(['curl', '-sS', `${gh.url}\\@${new URL(upstream.url).host}/direct`], cliEnv(dir));
    assert.equal(backslash.code, 2, 'curl would read the signed-in host as user info and connect to the other host');
    assert.match(backslash.stderr, /is refused/);
    const proxied = await runCli(['curl', '-sS', '-x', upstream.url, `${gh.url}/app/x`], cliEnv(dir));
    assert.equal(proxied.code, 2, 'through a proxy (the upstream here) the token would reach it');
    assert.match(proxied.stderr, /does not take --proxy/);
    const abbreviated = await runCli(['curl', '-sS', '--location-tr', `${gh.url}/app/redirect-me`], cliEnv(dir));
    assert.equal(abbreviated.code, 2, '--location-tr is curl for --location-trusted');
    assert.match(abbreviated.stderr, /unknown or abbreviated curl option/);
    const unknown = await runCli(['curl', '-sS', `${upstream.url}/direct`], cliEnv(dir));
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /not signed in to/);
    assert.equal(upstream.seen.length, before, 'nothing reached the other host');
  });

  test('$GATEHOUSE_CURL not found: exit 127 (as a shell), one line on stderr', async () => {
    const dir = await loginAs('alice');
    const missing = join(dir, 'no-curl-here');
    const res = await runCli(['curl', '-sS', `${gh.url}/app/no-curl`], cliEnv(dir, { GATEHOUSE_CURL: missing }));
    assert.equal(res.code, 127, res.stderr);
    assert.equal(res.stderr, `gatehouse curl: cannot run ${missing}: no such file\n`);
  });

  test('token leak on a followed redirect: -L is refused', async () => {
    const dir = await loginAs('alice');
    const res = await runCli(['curl', '-sSL', `${gh.url}/app/redirect-me`], cliEnv(dir));
    assert.equal(res.code, 2);
    assert.match(res.stderr, /does not follow redirects/);
    assert.equal(seenAt('/app/redirect-me').length, 0);
  });
});

describe('gatehouse exec', () => {
  test('runs the command with GATEHOUSE_TOKEN, --env names and GATEHOUSE_URL set; its exit code is returned', async () => {
    const dir = await loginAs('alice');
    const script = `
      const { GATEHOUSE_TOKEN: t, MY_TOKEN: m, GATEHOUSE_URL: u } = process.env;
      const res = await fetch(u + '/app/exec', { headers: { 'proxy-authorization': 'Bearer ' + t } });
      console.log(JSON.stringify({ same: t === m, prefix: t.slice(0, 4), url: u, status: res.status, argv: process.argv.slice(1) }));
      process.exit(7);`;
    const res = await runCli(['exec', '--env', 'MY_TOKEN', '--', process.execPath, '--input-type=module', '-e', script, 'arg one'], cliEnv(dir));
    assert.equal(res.code, 7, res.stderr);
    assert.deepEqual(JSON.parse(res.stdout), { same: true, prefix: 'gta_', url: gh.url, status: 200, argv: ['arg one'] });
    assert.equal(header(seenAt('/app/exec')[0]!, 'x-forwarded-user'), 'alice@example.com');
  });

  test('signals sent to gatehouse exec reach the command, and its exit code comes back', async () => {
    const dir = await loginAs('alice');
    const cli = startCli(['exec', '--', 'sh', '-c', 'sleep 20 & pid=$!; trap "kill $pid; exit 42" TERM; echo ready; wait'], cliEnv(dir));
    await cli.line(/^ready$/);
    cli.child.kill('SIGTERM');
    assert.equal(await cli.exited, 42);
  });

  test('a command killed by a signal: 128 + the signal number', async () => {
    const dir = await loginAs('alice');
    const res = await runCli(['exec', '--', 'sh', '-c', 'kill -TERM $$'], cliEnv(dir));
    assert.equal(res.code, 143);
  });

  test('a command not found: exit 127 (as a shell), one line on stderr, nothing run', async () => {
    const dir = await loginAs('alice');
    for (const cmd of ['gatehouse-no-such-command', join(dir, 'no-such-file')]) {
      const res = await runCli(['exec', '--', cmd, 'arg'], cliEnv(dir));
      assert.equal(res.code, 127, res.stderr);
      assert.match(res.stderr, new RegExp(`^gatehouse exec: cannot run ${cmd}: (not found on PATH|no such file)\\n$`));
      assert.doesNotMatch(res.stderr, /gt[ar]_/, 'no token on stderr');
    }
  });

  test('a command found but not executable: exit 126 (as a shell), one line on stderr', async () => {
    const dir = await loginAs('alice');
    const bin = join(dir, '..', 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'not-executable'), '#!/bin/sh\necho ran\n', { mode: 0o644 });
    for (const [cmd, env] of [[join(bin, 'not-executable'), cliEnv(dir)], ['not-executable', cliEnv(dir, { PATH: `${bin}:${process.env.PATH}` })], [bin, cliEnv(dir)]] as const) {
      const res = await runCli(['exec', '--', cmd], env);
      assert.equal(res.code, 126, `${cmd}: ${res.stderr}`);
      assert.match(res.stderr, new RegExp(`^gatehouse exec: cannot run ${cmd}: not executable \\(permission denied\\)\\n$`));
      assert.equal(res.stdout, '');
    }
  });
});
