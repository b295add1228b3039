/**
 * Hot reload of route policies through a running Gatehouse: an edit changes access without a
 * restart; a broken edit changes nothing (the old policy serves, readiness says stale, the log
 * carries the code and every problem, `check` prints the same lines); a fix recovers; requests in
 * flight keep the decision they started with; a new file under the glob (with a new upstream)
 * is picked up; bursts coalesce; non-policy keys are named as needing a restart.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, stringify } from 'yaml';
import { runCheck } from '../../proxy/cli/check.js';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { signIn, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

let gh: RunningGatehouse;
let upstream: TestUpstream;
let other: TestUpstream;
let dana: CookieJar;
let carol: CookieJar;
let policyFile: string;

/** The route under test: only `groups` may reach /api. */
const apiRoute = (groups: string[], url = upstream.url) => ({ name: 'lab-api', path: '/api', upstream: url, allow: [{ groups }] });

before(async () => {
  upstream = await startTestUpstream();
  other = await startTestUpstream();
  gh = await startGatehouse({
    files: { 'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }) },
    connections: [{ id: 'lab', idp_metadata_file: 'idp.xml' }],
    routes: [apiRoute(['admins'])],
  });
  policyFile = join(gh.dir, 'policies', 'routes.yaml');
  dana = await signIn(gh.url, 'lab', 'dana@example.com', ['data-scientists']);
  carol = await signIn(gh.url, 'lab', 'carol@example.com', ['interns']);
});

after(async () => {
  await gh?.stop();
  await upstream?.close();
  await other?.close();
});

function writePolicy(routes: unknown[], file = policyFile): void {
  writeFileSync(file, stringify({ routes }));
}

async function status(jar: CookieJar | undefined, path = '/api/models'): Promise<number> {
  const res = jar ? await jarFetch(jar, `${gh.url}${path}`) : await fetch(`${gh.url}${path}`);
  await res.arrayBuffer();
  return res.status;
}

interface Ready {
  status: string;
  policy: { generation: number; loaded_at: string; status: 'current' | 'stale'; last_error?: { at: string; problems: number } };
}

async function ready(): Promise<{ http: number; body: Ready; text: string }> {
  const res = await fetch(`${gh.url}/.gatehouse/readyz`);
  const text = await res.text();
  return { http: res.status, body: JSON.parse(text) as Ready, text };
}

/** Polls `probe` until it returns true, for at most `ms` (the watcher debounces 250 ms). */
async function until(what: string, probe: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting until ${what}`);
    await sleep(50);
  }
}

const logsOf = (event: string) => gh.logs.find((l) => l.event === event);

describe('policy hot reload', { timeout: 60_000 }, () => {
  test('an edit that grants a group takes effect without a restart', async () => {
    assert.equal(await status(dana), 403);
    writePolicy([apiRoute(['admins', 'data-scientists'])]);
    await until('dana is allowed', async () => (await status(dana)) === 200);
    const r = await ready();
    assert.deepEqual([r.body.policy.generation, r.body.policy.status, r.body.policy.last_error], [2, 'current', undefined]);
    const line = logsOf('policy-reloaded').at(-1)!;
    assert.deepEqual([line.generation, line.routes, line.changed, line.added, line.removed], [2, 1, ['lab-api'], [], []]);
    assert.equal(await status(carol), 403, 'the edit granted only the named group');
  });

  test('a broken policy edit never opens or closes access: the old policy keeps serving', async () => {
    const failuresBefore = logsOf('policy-reload-failed').length;
    // Half-applied, this edit would let everyone signed in through; its second route is invalid.
    writeFileSync(policyFile, stringify({ routes: [{ ...apiRoute([]), allow: [{ authenticated: true }] }, { name: 'bad', path: 'no-slash', upstream: upstream.url, alow: [] }] }));
    await until('readiness says stale', async () => (await ready()).body.policy.status === 'stale');
    assert.equal(await status(dana), 200, 'access granted by the serving policy stays');
    assert.equal(await status(carol), 403, 'access the broken file would grant is not granted');
    assert.equal(await status(undefined), 401);

    const r = await ready();
    assert.equal(r.http, 200, 'the old good policy still serves: ready');
    assert.equal(r.body.policy.generation, 2);
    const failed = logsOf('policy-reload-failed');
    assert.equal(failed.length, failuresBefore + 1, 'one failure logged for one edit');
    const line = failed.at(-1)!;
    assert.equal(line.level, 'error');
    assert.equal(line.code, 'POLICY_RELOAD_FAILED');
    const problems = line.problems as string[];
    assert.ok(problems.length >= 2, `every problem is logged: ${problems.join(' | ')}`);
    assert.ok(problems.every((p) => /routes\.yaml:\d+ routes\[1\]\.\S+: /.test(p)), problems.join(' | '));
    assert.equal(r.body.policy.last_error?.problems, problems.length);
    assert.ok(!r.text.includes(gh.dir) && !r.text.includes('routes.yaml') && !r.text.includes('alow'), `readiness shows counts only: ${r.text}`);
  });

  test('gatehouse check prints exactly the problems the failed reload logged', async () => {
    const logged = logsOf('policy-reload-failed').at(-1)!.problems as string[];
    let printed = '';
    const sink = new Writable({ write: (c: Buffer, _e, cb) => ((printed += c.toString()), cb()) });
    assert.equal(await runCheck(join(gh.dir, 'gatehouse.yaml'), sink, sink), 1);
    assert.deepEqual(printed.trim().split('\n').slice(0, -1), logged);
  });

  test('fixing the broken file recovers: status current, next generation', async () => {
    writePolicy([apiRoute(['admins', 'data-scientists'])]);
    await until('readiness says current', async () => (await ready()).body.policy.status === 'current');
    const r = await ready();
    assert.equal(r.body.policy.generation, 3);
    assert.equal(r.body.policy.last_error, undefined);
    assert.equal(await status(dana), 200);
    assert.equal(await status(carol), 403);
  });

  test('a request in flight during a reload completes with the decision it started with', async () => {
    const seen = upstream.seen.length;
    const slow = jarFetch(dana, `${gh.url}/api/slow?ms=1500`).then(async (res) => ({ status: res.status, body: await res.text() }));
    await until('the slow request reached the upstream', () => upstream.seen.slice(seen).some((s) => s.url.includes('/slow')));
    writePolicy([apiRoute(['admins'])]);
    const after = await gh.app.reload();
    assert.equal(after.status, 'current');
    assert.equal(await status(dana), 403, 'new requests get the new decision');
    assert.deepEqual(await slow, { status: 200, body: 'slow' });
  });

  test('a new policy file matching the glob is picked up, with a pool for its new upstream', async () => {
    assert.equal(await status(dana, '/reports/q1'), 404);
    writePolicy([{ name: 'reports', path: '/reports', upstream: other.url, allow: [{ emails: ['dana@example.com'] }] }], join(gh.dir, 'policies', 'reports.yaml'));
    await until('the new route serves', async () => (await status(dana, '/reports/q1')) === 200);
    assert.ok(other.seen.some((s) => s.url === '/reports/q1'), 'forwarded to the new upstream');
    assert.equal(await status(carol, '/reports/q1'), 403);
    assert.deepEqual(logsOf('policy-reloaded').at(-1)!.added, ['reports']);
  });

  test('a burst of writes is one reload, and reload calls during a reload coalesce into one more', async () => {
    const reloads = () => logsOf('policy-reloaded').length;
    const start = reloads();
    // An editor saving in steps: writes 30 ms apart, each inside the 250 ms quiet period.
    for (let i = 0; i < 10; i++) {
      writePolicy([apiRoute(['admins', `burst-${i}`])]);
      await sleep(30);
    }
    await until('the burst was reloaded', () => reloads() > start);
    await sleep(800);
    // One reload expected; two only if this machine stalled a sleep past the quiet period.
    assert.ok(reloads() - start <= 2, `ten writes in a burst: ${reloads() - start} reloads`);
    assert.equal(gh.app.context.routes.routes.find((r) => r.name === 'lab-api')?.allowGroups.at(-1), 'burst-9', 'the last write serves');

    const gen = gh.app.context.policy.generation;
    const all = await Promise.all([gh.app.reload(), gh.app.reload(), gh.app.reload(), gh.app.reload()]);
    assert.equal(gh.app.context.policy.generation, gen + 2, 'one reload ran, the three asked meanwhile became one more');
    assert.ok(all.every((s) => s.generation === gen + 2), 'every caller sees the state after its request');
  });

  test('a change to non-policy keys applies the policies only and names the keys that need a restart', async () => {
    const configFile = join(gh.dir, 'gatehouse.yaml');
    const config = parse(readFileSync(configFile, 'utf8')) as Record<string, Record<string, unknown>>;
    const port = gh.app.context.config.server.listen.port;
    writeFileSync(configFile, stringify({ ...config, log: { level: 'debug' }, server: { ...config.server, listen: '127.0.0.1:1' } }));
    await until('a restart warning was logged', () => logsOf('policy-reload-restart-needed').length > 0);
    const warn = logsOf('policy-reload-restart-needed').at(-1)!;
    assert.equal(warn.level, 'warn');
    assert.deepEqual(warn.keys, ['log', 'server']);
    assert.equal(gh.app.context.config.server.listen.port, port, 'the running config is unchanged');
    assert.equal(gh.app.context.config.log.level, 'info');
    assert.equal(await status(dana, '/reports/q1'), 200, 'still serving');
  });
});
