/**
 * `gatehouse login` end to end: the real CLI (child process, GATEHOUSE_BROWSER=none so it prints
 * the URL), a Gatehouse signing in through SimpleSAMLphp 1.19, and headless Chromium doing what
 * the user does with the printed URL: sign in at the IdP, press Allow, land on the CLI's loopback
 * listener (or read the code and type it into the CLI). Then `gatehouse curl` reaches a recording
 * upstream through Gatehouse as that user.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { e2eSkipReason, launchBrowser, loginAtSimpleSamlPhp } from '../helpers/browser.js';
import { freePort } from '../helpers/free-port.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { authorizeUrlOf, cliEnv, runCli, startCli, tempConfigDir } from '../helpers/gatehouse-cli.js';
import { DEFAULT_USERS, simpleSamlPhpAvailable, startSimpleSamlPhp, type RunningIdp } from '../helpers/simplesamlphp.js';
import { startTogether } from '../helpers/start-together.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const skipReason = e2eSkipReason(simpleSamlPhpAvailable());
const CONNECTION = 'lab';

function passwordOf(user: string): string {
  const found = DEFAULT_USERS.find((u) => u.username === user);
  assert.ok(found, `test user ${user}`);
  return found.password;
}

describe('gatehouse login through SimpleSAMLphp in Chromium', { timeout: 180_000 }, () => {
  let idp: RunningIdp | undefined;
  let upstream: TestUpstream | undefined;
  let browser: Browser | undefined;
  let gh: RunningGatehouse | undefined;
  const dirs: string[] = [];

  before(async () => {
    if (skipReason) return;
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    await startTogether(
      startSimpleSamlPhp().then((v) => (idp = v)),
      startTestUpstream().then((v) => (upstream = v)),
      launchBrowser().then((v) => (browser = v)),
    );
    assert.ok(idp && upstream);
    await idp.registerSp({ entityId: `${origin}/.gatehouse/saml/${CONNECTION}/metadata`, acsUrl: `${origin}/.gatehouse/saml/${CONNECTION}/acs` });
    gh = await startGatehouse({
      port,
      connections: [{ id: CONNECTION, idp_metadata_url: idp.metadataUrl, attributes: { email: 'email', groups: 'groups', name: 'displayName' } }],
      routes: [{ name: 'ml', path: '/ml', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] }],
    });
  });

  after(async () => {
    await browser?.close();
    await gh?.stop();
    await upstream?.close();
    await idp?.stop();
    for (const d of dirs) rmSync(join(d, '..'), { recursive: true, force: true });
  });

  function running(): { idp: RunningIdp; upstream: TestUpstream; browser: Browser; gh: RunningGatehouse } {
    assert.ok(idp && upstream && browser && gh, 'before() started everything');
    return { idp, upstream, browser, gh };
  }

  /** Opens the printed authorize URL in a fresh context, signs in at the IdP, lands on the confirm page. */
  async function toConfirmPage(page: Page, authorize: string, user: string): Promise<void> {
    const { idp } = running();
    await page.goto(authorize);
    assert.ok(page.url().startsWith(`${idp.baseUrl}module.php/core/loginuserpass.php`), `sent to the IdP to sign in first, got ${page.url()}`);
    await loginAtSimpleSamlPhp(page, user, passwordOf(user));
    await page.waitForURL((u) => u.pathname === '/.gatehouse/cli/authorize', { waitUntil: 'load' });
    assert.match((await page.textContent('body')) ?? '', new RegExp(`act as ${user}@example\\.com`));
  }

  function newDir(): string {
    const d = tempConfigDir();
    dirs.push(d);
    return d;
  }

  it('alice: the loopback listener receives the code, working tokens are stored 0600, and gatehouse curl reaches the upstream as alice', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { browser, gh, upstream } = running();
    const dir = newDir();
    const cli = startCli(['login', gh.url], cliEnv(dir));
    const authorize = await authorizeUrlOf(cli);
    const redirectUri = new URL(authorize).searchParams.get('redirect_uri')!;
    assert.match(redirectUri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await toConfirmPage(page, authorize, 'alice');
      assert.match((await page.textContent('body')) ?? '', new RegExp(`port ${new URL(redirectUri).port}`), 'the page names the listening port');
      const landed = page.waitForURL((u) => u.href.startsWith(`${redirectUri}?`), { waitUntil: 'load' });
      await page.getByRole('button', { name: 'Allow' }).click();
      await landed;
      const callback = new URL(page.url());
      assert.equal(callback.searchParams.get('state'), new URL(authorize).searchParams.get('state'));
      assert.ok(callback.searchParams.get('code'), 'the code came back on the loopback redirect');
      assert.match((await page.textContent('body')) ?? '', /The Gatehouse CLI is signed in/, 'the CLI listener answered the browser');
    } finally {
      await context.close();
    }
    assert.equal(await cli.exited, 0, cli.stderr());
    assert.match(cli.stdout(), new RegExp(`^Signed in to ${gh.url} as alice@example\\.com$`, 'm'));

    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'credentials.json')).mode & 0o777, 0o600);
    const entry = (JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as Record<string, Record<string, string>>)[gh.url]!;
    assert.match(entry.refresh_token!, /^gtr_/);
    assert.match(entry.access_token!, /^gta_/);

    const res = await runCli(['curl', '-sS', `${gh.url}/ml/predict?x=1`], cliEnv(dir));
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'ok');
    const seen = upstream.seen.filter((r) => r.url === '/ml/predict?x=1');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers['x-forwarded-user'], 'alice@example.com');
    assert.equal(seen[0]!.headers['x-forwarded-groups'], 'ml-engineers');
    assert.equal(seen[0]!.headers['proxy-authorization'], undefined, 'no Gatehouse token upstream');
    assert.equal(seen[0]!.headers.authorization, undefined);
    assert.ok(!gh.logs.text().includes(entry.access_token!) && !gh.logs.text().includes(entry.refresh_token!), 'no token in the logs');
  });

  it('headless fallback: Chromium shows the code, typed into the CLI; bob is refused by the route as bob', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { browser, gh, upstream } = running();
    const dir = newDir();
    const cli = startCli(['login', '--no-browser', gh.url], cliEnv(dir));
    const authorize = await authorizeUrlOf(cli);
    await cli.line(/Enter the code shown in the browser:/);
    const context = await browser.newContext();
    let code = '';
    try {
      const page = await context.newPage();
      await toConfirmPage(page, authorize, 'bob');
      assert.match((await page.textContent('body')) ?? '', /a terminal/);
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForSelector('#code');
      code = ((await page.textContent('#code')) ?? '').trim();
    } finally {
      await context.close();
    }
    assert.match(code, /^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    cli.child.stdin!.end(`${code}\n`);
    assert.equal(await cli.exited, 0, cli.stderr());
    assert.match(cli.stdout(), /as bob@example\.com/);
    const res = await runCli(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `${gh.url}/ml/bob`], cliEnv(dir));
    assert.equal(res.stdout, '403', 'bob is not in ml-engineers: the token carries his identity, not more');
    assert.equal(upstream.seen.filter((r) => r.url === '/ml/bob').length, 0);
  });
});
