/**
 * The SAML audit trail through real logins (responses signed by the test IdP key): accepted and
 * refused messages recorded with their code and the client's address, the admin page and API
 * (admins only, escaped, refused on application hosts), `gatehouse audit saml` (memory: asks the
 * running instance's admin API; Redis: reads it directly), sealing at rest in Redis, and a broken audit store
 * that changes no login outcome.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { runAuditSaml, type AuditCommand } from '../../proxy/cli/audit.js';
import type { RedisConnection } from '../../proxy/store/redis-connection.js';
import { jarFetch, type CookieJar } from '../helpers/cookie-jar.js';
import { freePort } from '../helpers/free-port.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { openTestConnection } from '../helpers/redis-store.js';
import { redisSkipReason, startRedis, type RunningRedis } from '../helpers/redis-server.js';
import { replaceNameId } from '../helpers/saml-tamper.js';
import { genuineResponseXml, postResponse, signIn, startSpLogin, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const ADMIN_TOKEN = `admin-${'9f8e7d6c'.repeat(5)}`;
const ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);
const skipRedis = redisSkipReason();
if (skipRedis && process.env.GATEHOUSE_E2E_REQUIRED === '1') throw new Error(skipRedis);

interface ApiEntry {
  time: string;
  req_id: string;
  kind: string;
  connection: string;
  client_ip: string;
  verdict: string;
  code: string | null;
  reason: string;
  claims_verified: boolean;
  claims: { email?: string; name_id?: string; groups?: string[]; assertion_id?: string; session_index?: string };
  xml_bytes: number;
  xml?: string;
}

async function setup(upstreamUrl: string, session: Record<string, unknown> = {}): Promise<RunningGatehouse> {
  return startGatehouse({
    files: { 'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }) },
    config: { admin: { token: ADMIN_TOKEN, groups: ['gatehouse-admins'] }, session },
    connections: [{ id: 'lab', idp_metadata_file: 'idp.xml' }],
    routes: [
      { name: 'ml', path: '/ml', upstream: upstreamUrl, allow: [{ groups: ['ml-engineers'] }] },
      { name: 'notebook', host: 'notebook.test', path: '/', upstream: upstreamUrl, allow: [{ authenticated: true }] },
    ],
  });
}

/** One genuine login and one tampered response (NameID changed after signing); both settled in the trail. */
async function loginPair(gh: RunningGatehouse, email: string) {
  const login = await startSpLogin(gh.url, 'lab');
  const tampered = await postResponse(login, replaceNameId(genuineResponseXml(login, email), 'mallory@example.com'));
  assert.equal(tampered.status, 403);
  const genuine = await postResponse(login, genuineResponseXml(login, email));
  assert.equal(genuine.status, 303, await genuine.text());
  await gh.app.context.samlAudit.settled();
  return { refusedId: tampered.headers.get('x-request-id')!, acceptedId: genuine.headers.get('x-request-id')! };
}

const api = (gh: RunningGatehouse, query = '', init: RequestInit = {}) =>
  fetch(`${gh.url}/.gatehouse/admin/saml-audit${query}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...init.headers } });

/** The CLI in-process (faster than a child process; same code from runAuditSaml on). */
async function runIn(file: string, cmd: Partial<AuditCommand>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (add: (c: string) => void) => new Writable({ write: (c, _e, cb) => (add(String(c)), cb()) });
  const code = await runAuditSaml(file, { json: false, showXml: false, ...cmd }, sink((c) => (out += c)), sink((c) => (err += c)));
  return { code, out, err };
}

const cli = (gh: RunningGatehouse, ...args: string[]) => run(process.execPath, ['--import', 'tsx', join(ROOT, 'proxy/main.ts'), 'audit', 'saml', ...args, '--config', join(gh.dir, 'gatehouse.yaml')], { cwd: ROOT });

/** A page load as a browser sends it (fetch cannot send `sec-fetch-mode: navigate` or a Host). */
function browserGet(gh: RunningGatehouse, jar: CookieJar | undefined, path: string, extra: Record<string, string> = {}): Promise<{ status: number; csp: string; body: string }> {
  const url = new URL(`${gh.url}${path}`);
  const headers: Record<string, string> = { accept: 'text/html', 'sec-fetch-mode': 'navigate', ...extra };
  const cookie = jar?.header();
  if (cookie) headers.cookie = cookie;
  return new Promise((resolve, reject) => {
    request({ host: url.hostname, port: url.port, path: url.pathname + url.search, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, csp: String(res.headers['content-security-policy'] ?? ''), body }));
    })
      .on('error', reject)
      .end();
  });
}

let upstream: TestUpstream;
before(async () => {
  upstream = await startTestUpstream();
});
after(async () => {
  await upstream?.close();
});

describe('SAML audit trail, memory store', () => {
  let gh: RunningGatehouse;
  before(async () => {
    gh = await setup(upstream.url);
  });
  after(async () => {
    await gh?.stop();
  });

  test('a genuine login and a tampered response both show up, the refusal with its code, reason, IP and request id', async () => {
    const { refusedId, acceptedId } = await loginPair(gh, 'alice@example.com');
    const body = (await (await api(gh, '?email=ALICE@example.com&xml=1')).json()) as { entries: ApiEntry[] };
    const refused = body.entries.find((e) => e.req_id === refusedId);
    const accepted = body.entries.find((e) => e.req_id === acceptedId);
    assert.ok(refused && accepted, JSON.stringify(body));
    const logged = gh.logs.find((l) => l.event === 'login-failed' && l.req_id === refusedId)[0];
    assert.equal(refused.verdict, 'refused');
    assert.equal(refused.code, 'SAML_LOGIN_FAILED');
    assert.equal(refused.reason, logged?.reason, 'the same private reason as the log line');
    assert.equal(refused.client_ip, '127.0.0.1');
    assert.equal(refused.claims_verified, false, 'claims of a refused response are unverified');
    assert.equal(refused.claims.name_id, 'mallory@example.com', 'what the tampered XML said');
    assert.equal(refused.claims.email, 'alice@example.com');
    assert.match(refused.xml!, /mallory@example\.com/);
    assert.equal(accepted.verdict, 'accepted');
    assert.equal(accepted.code, null);
    assert.equal(accepted.claims_verified, true);
    assert.deepEqual(accepted.claims.groups, ['ml-engineers']);
    assert.ok(accepted.claims.assertion_id && accepted.claims.session_index);
    const refusedOnly = (await (await api(gh, '?verdict=refused&since=1h')).json()) as { entries: ApiEntry[] };
    assert.ok(refusedOnly.entries.every((e) => e.verdict === 'refused' && e.xml === undefined), 'XML only with xml=1');
  });

  test('garbage and GET input: the garbage POST is recorded (cut, with its size); a GET carries no message', async () => {
    const junk = 'A'.repeat(40_000);
    const res = await fetch(`${gh.url}/.gatehouse/saml/lab/acs`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `SAMLResponse=${junk}` });
    assert.equal(res.status, 403);
    const get = await fetch(`${gh.url}/.gatehouse/saml/lab/acs`);
    assert.equal(get.status, 405);
    await gh.app.context.samlAudit.settled();
    const { entries } = (await (await api(gh, '?xml=1&limit=5')).json()) as { entries: Array<ApiEntry & { xml_truncated: boolean; claims_error?: string }> };
    const e = entries.find((x) => x.req_id === res.headers.get('x-request-id'));
    assert.ok(e);
    assert.equal(e.xml_bytes, 30_000);
    assert.equal(e.xml_truncated, true);
    assert.ok(Buffer.byteLength(e.xml!) <= 16_384);
    assert.equal(e.claims_error, 'xml-malformed');
    assert.ok(!entries.some((x) => x.req_id === get.headers.get('x-request-id')));
  });

  test('admin only: no credentials 401, a wrong token 401, a signed-in non-admin 403, an admin session gets the page', async () => {
    assert.equal((await fetch(`${gh.url}/.gatehouse/admin/saml-audit`)).status, 401);
    assert.equal((await fetch(`${gh.url}/.gatehouse/admin/saml-audit`, { headers: { authorization: 'Bearer wrong-token-wrong-token-wrong-token!' } })).status, 401);
    const user = await signIn(gh.url, 'lab', 'bob@example.com', ['ml-engineers']);
    assert.equal((await jarFetch(user, `${gh.url}/.gatehouse/admin/saml-audit`, { headers: { accept: 'application/json' } })).status, 403);
    const admin = await signIn(gh.url, 'lab', 'root@example.com', ['gatehouse-admins']);
    const page = await browserGet(gh, admin, '/.gatehouse/admin/saml-audit?email=bob@example.com');
    assert.equal(page.status, 200);
    assert.match(page.csp, /default-src 'none'/);
    const html = page.body;
    assert.match(html, /<h1>SAML audit trail<\/h1>/);
    assert.match(html, /bob@example\.com/);
    assert.match(html, /<pre>&#60;\?xml /, 'the raw XML is shown escaped in a <pre>');
    const read = gh.logs.find((l) => l.event === 'saml-audit-read').at(-1);
    assert.equal(read?.by, 'user:root@example.com');
  });

  test('markup in a message is escaped on the admin page (stored XSS through a forged response)', async () => {
    const login = await startSpLogin(gh.url, 'lab');
    const evil = '<script>alert(1)</script>"onmouseover="x';
    const res = await postResponse(login, genuineResponseXml(login, 'x@example.com', { attributes: { email: [`${evil}@example.com`] } }).replace('x@example.com</saml:NameID>', `${evil.replace(/</g, '&lt;').replace(/"/g, '&quot;')}</saml:NameID>`));
    assert.equal(res.status, 403);
    await gh.app.context.samlAudit.settled();
    const admin = await signIn(gh.url, 'lab', 'root@example.com', ['gatehouse-admins']);
    const html = (await browserGet(gh, admin, '/.gatehouse/admin/saml-audit?verdict=refused')).body;
    assert.ok(html.includes('&#60;script&#62;alert(1)&#60;/script&#62;'), 'shown, escaped');
    assert.ok(!html.includes('<script>'), 'never as markup');
    assert.ok(!/"onmouseover=/.test(html));
  });

  test('refused on an application host, like the rest of the admin API', async () => {
    const onApp = await browserGet(gh, undefined, '/.gatehouse/admin/saml-audit', { host: 'notebook.test', authorization: `Bearer ${ADMIN_TOKEN}` });
    assert.equal(onApp.status, 404);
    const onOurs = await browserGet(gh, undefined, '/.gatehouse/admin/saml-audit', { authorization: `Bearer ${ADMIN_TOKEN}` });
    assert.equal(onOurs.status, 200, 'control: the same request on Gatehouse\'s own host');
  });

  test('gatehouse audit saml with the memory store asks the running instance (server.listen, admin.token of the config): accepted and refused lines, filtered by --email and --since', async () => {
    const earlier = await loginPair(gh, 'erin@example.com');
    const other = await loginPair(gh, 'frank@example.com');
    await sleep(5);
    const since = new Date().toISOString();
    await sleep(5);
    const { refusedId, acceptedId } = await loginPair(gh, 'erin@example.com');
    const lines = (await cli(gh, '--email', 'Erin@Example.com', '--since', since)).stdout.trim().split('\n');
    assert.equal(lines.length, 2, lines.join('\n'));
    const ts = String.raw`\d{4}-\d\d-\d\dT[\d:.]+Z`;
    assert.match(lines.find((l) => l.endsWith(refusedId)) ?? '', new RegExp(`^${ts} {2}response {2}refused {2}SAML_LOGIN_FAILED/[a-z-]+ {2}lab {2}erin@example\\.com \\(unverified\\) {2}127\\.0\\.0\\.1 {2}${refusedId}$`));
    assert.match(lines.find((l) => l.endsWith(acceptedId)) ?? '', new RegExp(`^${ts} {2}response {2}accepted {2}login {2}lab {2}erin@example\\.com {2}127\\.0\\.0\\.1 {2}${acceptedId}$`));
    const wider = (await cli(gh, '--email', 'erin@example.com', '--since', '1h')).stdout;
    for (const id of [earlier.refusedId, earlier.acceptedId, refusedId, acceptedId]) assert.ok(wider.includes(id), `--since 1h shows ${id}\n${wider}`);
    assert.ok(!wider.includes(other.refusedId) && !wider.includes(other.acceptedId) && !/frank/.test(wider), '--email leaves the other user out');
    // --json --show-xml: the admin API's own entries, field for field (the same format as with Redis).
    const json = JSON.parse((await cli(gh, '--email', 'erin@example.com', '--json', '--show-xml')).stdout) as { entries: ApiEntry[]; truncated: boolean };
    const direct = (await (await api(gh, '?email=erin@example.com&xml=1')).json()) as { entries: ApiEntry[]; truncated: boolean };
    assert.deepEqual(json, { entries: direct.entries, truncated: direct.truncated });
    assert.match(json.entries.find((e) => e.req_id === refusedId)?.xml ?? '', /<samlp:Response/);
    assert.match((await cli(gh, '--connection', 'nope')).stdout, /no SAML messages match/);
  });

  test('gatehouse audit saml: a wrong admin token is refused (exit 1, one line), the right one from --admin-token-file with --instance works without a config', async () => {
    const wrong = join(gh.dir, 'wrong-token');
    writeFileSync(wrong, 'wrong-token-wrong-token-wrong-token-wrong!\n');
    await assert.rejects(cli(gh, '--instance', gh.url, '--admin-token-file', wrong), (err: { code?: number; stdout?: string; stderr?: string }) => {
      assert.equal(err.code, 1);
      assert.equal(err.stdout, '', 'nothing listed');
      assert.match(err.stderr ?? '', /^gatehouse: the running Gatehouse at http:\/\/127\.0\.0\.1:\d+\/\.gatehouse\/admin\/ refused the admin token \(401\)[^\n]*\n$/);
      return true;
    });
    const right = join(gh.dir, 'right-token');
    writeFileSync(right, `${ADMIN_TOKEN}\n`);
    const r = await runIn('/nonexistent/gatehouse.yaml', { instance: gh.url, adminTokenFile: right, verdict: 'refused', since: '1h' });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, / {2}refused {2}SAML_LOGIN_FAILED\//);
  });

  test('gatehouse audit saml with the memory store and no admin token: exit 2 naming the fix', async () => {
    const config = parse(readFileSync(join(gh.dir, 'gatehouse.yaml'), 'utf8')) as { admin: Record<string, unknown> };
    delete config.admin.token;
    const file = join(gh.dir, 'no-token.yaml');
    writeFileSync(file, stringify(config));
    const r = await runIn(file, {});
    assert.equal(r.code, 2);
    assert.equal(r.out, '');
    assert.match(r.err, /^gatehouse: session\.store is memory: .*admin API: no admin token: set admin\.token .*--admin-token-file FILE\n$/);
  });

  test('gatehouse audit saml: an unreachable instance (server.listen with nothing listening) is one line, exit 1', async () => {
    const port = await freePort();
    const config = parse(readFileSync(join(gh.dir, 'gatehouse.yaml'), 'utf8')) as { server: Record<string, unknown> };
    config.server.listen = `127.0.0.1:${port}`;
    const file = join(gh.dir, 'gone.yaml');
    writeFileSync(file, stringify(config));
    const r = await runIn(file, { email: 'erin@example.com' });
    assert.equal(r.code, 1);
    assert.equal(r.out, '');
    assert.match(r.err, new RegExp(`^gatehouse: cannot reach the running Gatehouse at http://127\\.0\\.0\\.1:${port}/\\.gatehouse/admin/: [^\\n]*ECONNREFUSED[^\\n]*\\n$`));
  });

  test('terminal escapes an attacker posts are shown escaped by the CLI through the admin API (lines and --show-xml)', async () => {
    const since = new Date(Date.now() - 1).toISOString();
    const login = await startSpLogin(gh.url, 'lab');
    const bidi = '\u202emoc.elpmaxe@evil';
    const forged = await postResponse(login, replaceNameId(genuineResponseXml(login, 'eve@example.com', { attributes: { email: [bidi] } }), 'mallory@example.com'));
    assert.equal(forged.status, 403);
    const junk = await fetch(`${gh.url}/.gatehouse/saml/lab/acs`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ SAMLResponse: Buffer.from('\x1b[2J\x1b]0;owned\x07<x>fake line\r\n</x>').toString('base64') }),
    });
    assert.equal(junk.status, 403);
    await gh.app.context.samlAudit.settled();
    const r = await runIn(join(gh.dir, 'gatehouse.yaml'), { since, verdict: 'refused', showXml: true });
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.includes(forged.headers.get('x-request-id')!) && r.out.includes(junk.headers.get('x-request-id')!), r.out);
    assert.ok(!/[\x1b\x07\r\u202e]/.test(r.out), 'no raw control or bidi character reaches the terminal');
    assert.ok(r.out.includes('\\u{202e}moc.elpmaxe@evil (unverified)'), 'the forged email shown escaped on its line');
    assert.ok(r.out.includes('\\u{1b}[2J\\u{1b}]0;owned\\u{7}'), 'the XML shown escaped');
  });
});

describe('SAML audit trail, Redis store', { skip: skipRedis }, () => {
  let redis: RunningRedis;
  let gh: RunningGatehouse;
  let conn: RedisConnection;
  before(async () => {
    redis = await startRedis();
    conn = await openTestConnection(redis.url, 'au:');
    gh = await setup(upstream.url, { store: 'redis', redis: { url: redis.url, key_prefix: 'au:' } });
  });
  after(async () => {
    await gh?.stop();
    await conn?.close();
    await redis?.stop();
  });

  test('recorded in Redis through real logins, read by the CLI directly (filters, --json, --show-xml)', async () => {
    const { refusedId, acceptedId } = await loginPair(gh, 'carol@example.com');
    const json = JSON.parse((await cli(gh, '--email', 'Carol@Example.com', '--json', '--show-xml')).stdout) as { entries: ApiEntry[] };
    assert.deepEqual(json.entries.map((e) => e.req_id).sort(), [refusedId, acceptedId].sort());
    const refused = json.entries.find((e) => e.req_id === refusedId)!;
    assert.equal(refused.code, 'SAML_LOGIN_FAILED');
    assert.match(refused.xml!, /<samlp:Response/);
    const lines = (await cli(gh, '--verdict', 'refused', '--since', '1h')).stdout.trim().split('\n');
    const line = lines.find((l) => l.endsWith(refusedId));
    assert.ok(line, lines.join('\n'));
    assert.match(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z {2}response {2}refused {2}SAML_LOGIN_FAILED\/[a-z-]+ {2}lab {2}carol@example\.com \(unverified\) {2}127\.0\.0\.1 {2}/);
    assert.ok(!lines.some((l) => l.endsWith(acceptedId)), '--verdict refused leaves the accepted one out');
    const xml = (await cli(gh, '--email', 'carol@example.com', '--show-xml', '--limit', '1')).stdout;
    assert.match(xml, /<samlp:Response/);
    assert.match((await cli(gh, '--connection', 'nope')).stdout, /no SAML messages match/);
    await assert.rejects(cli(gh, '--since', 'whenever'), (err: { code?: number }) => err.code === 2);
  });

  test('a Redis dump shows no email, NameID, IP or XML; keys expire by themselves', async () => {
    await loginPair(gh, 'dana.private@example.com');
    const keys = await conn.client.keys('au:audit:*');
    assert.ok(keys.some((k) => k.startsWith('au:audit:e:')) && keys.includes('au:audit:all') && keys.some((k) => k.startsWith('au:audit:u:')), keys.join(' '));
    let dump = '';
    for (const k of keys.map((key) => key.slice('au:'.length))) {
      const type = await conn.client.type(k);
      dump += `${k} ${type === 'string' ? await conn.client.get(k) : (await conn.client.zrange(k, 0, -1, 'WITHSCORES')).join(' ')}\n`;
      const ttl = await conn.client.pttl(k);
      assert.ok(ttl > 0 && ttl <= 7 * 86_400_000, `${k} expires (${ttl})`);
    }
    for (const needle of ['dana', 'private', 'example.com', 'mallory', 'ml-engineers', '127.0.0.1', 'samlp', 'Assertion', 'SAML_LOGIN_FAILED']) {
      assert.ok(!dump.includes(needle), `the dump reveals "${needle}"`);
    }
  });

  test('an audit store that refuses writes changes no login outcome (logged with a code, login proceeds or refuses as before)', async () => {
    // Real Redis ACL: the default user may touch every Gatehouse key except the audit trail's.
    const allowed = ['~au:s:*', '~au:i:*', '~au:login:*', '~au:replay:*', '~au:rec:*', '~au:{groups-seen}:*'];
    await conn.client.call('ACL', 'SETUSER', 'default', 'resetkeys', ...allowed);
    try {
      const started = Date.now();
      const login = await startSpLogin(gh.url, 'lab');
      const tampered = await postResponse(login, replaceNameId(genuineResponseXml(login, 'erin@example.com'), 'mallory@example.com'));
      assert.equal(tampered.status, 403);
      const reason = gh.logs.find((l) => l.event === 'login-failed' && l.req_id === tampered.headers.get('x-request-id'))[0]?.reason;
      assert.match(String(reason), /signature|digest/);
      const genuine = await postResponse(login, genuineResponseXml(login, 'erin@example.com'));
      assert.equal(genuine.status, 303, await genuine.text());
      const app = await jarFetch(login.jar, `${gh.url}/ml/x`);
      assert.equal(app.status, 200, 'the session works');
      await gh.app.context.samlAudit.settled();
      assert.ok(Date.now() - started < 5_000);
      const failed = gh.logs.find((l) => l.event === 'saml-audit-failed');
      assert.ok(failed.length >= 1);
      assert.equal(failed.at(-1)!.code, 'SAML_AUDIT_NOT_RECORDED');
    } finally {
      await conn.client.call('ACL', 'SETUSER', 'default', '~*');
    }
    assert.equal((await (await api(gh, '?email=erin@example.com')).json() as { entries: unknown[] }).entries.length, 0, 'nothing was recorded');
  });

  test('with Redis stopped, recording fails at once (no wait for a reconnect) and never throws', async () => {
    const audit = gh.app.context.samlAudit;
    const login = await startSpLogin(gh.url, 'lab');
    await redis.stop();
    const deadline = Date.now() + 5_000;
    while (gh.app.context.stores.health().status === 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const before = audit.notRecorded;
    const t0 = Date.now();
    audit.record({ kind: 'response', connection: 'lab', clientIp: '127.0.0.1', reqId: 'stopped-1', rawXml: '<x/>', verdict: 'refused', code: 'SAML_LOGIN_FAILED', reason: 'test' });
    assert.ok(Date.now() - t0 < 50, 'record returns at once');
    await audit.settled();
    assert.ok(Date.now() - t0 < 500, `failed without waiting offline_wait (${Date.now() - t0} ms)`);
    assert.equal(audit.notRecorded, before + 1, 'counted (and logged, at most one line per 10 s)');
    // A login posted meanwhile gets exactly what it gets without the audit: the store is away.
    const res = await postResponse(login, genuineResponseXml(login, 'frank@example.com'), { jar: login.jar });
    const body = await res.text();
    assert.equal(res.status, 503, body);
    assert.match(body, /SESSION_STORE_UNAVAILABLE/);
    await audit.settled();
    assert.equal(audit.notRecorded, before + 2);
  });
});
