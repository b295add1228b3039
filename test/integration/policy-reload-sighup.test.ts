/**
 * The real CLI (`gatehouse serve`) in its own process with `watch_policies: false`: editing a
 * policy file changes nothing until SIGHUP; SIGHUP applies it; a broken edit followed by SIGHUP
 * keeps the old policy and logs the code. The child is stopped by its pid in every case.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import type { CookieJar } from '../helpers/cookie-jar.js';
import { jarFetch } from '../helpers/cookie-jar.js';
import { freePort } from '../helpers/free-port.js';
import { idpMetadataXml, TEST_SECRET } from '../helpers/gatehouse.js';
import { signIn, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const ROOT = new URL('../../', import.meta.url).pathname;

let dir: string;
let url: string;
let child: ChildProcess | undefined;
let stdout = '';
let upstream: TestUpstream;
let dana: CookieJar;

const policyFile = () => join(dir, 'policies', 'routes.yaml');
const writeRoutes = (groups: string[]) => writeFileSync(policyFile(), stringify({ routes: [{ name: 'lab-api', path: '/api', upstream: upstream.url, allow: [{ groups }] }] }));

/** Log lines the child wrote so far with this event. */
function logged(event: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.event === event);
}

async function until(what: string, probe: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await Promise.resolve().then(probe).catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting until ${what}; child output:\n${stdout.slice(-2000)}`);
    await sleep(50);
  }
}

async function status(path = '/api/models'): Promise<number> {
  const res = await jarFetch(dana, `${url}${path}`);
  await res.arrayBuffer();
  return res.status;
}

async function policyStatus(): Promise<{ generation: number; status: string }> {
  return ((await (await fetch(`${url}/.gatehouse/readyz`)).json()) as { policy: { generation: number; status: string } }).policy;
}

/** Stops the child by its pid: SIGTERM, then SIGKILL if it has not exited within 5 s. */
async function stopChild(): Promise<void> {
  const c = child;
  if (!c?.pid || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
  process.kill(c.pid, 'SIGTERM');
  const timer = setTimeout(() => c.exitCode === null && c.signalCode === null && process.kill(c.pid!, 'SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

before(async () => {
  upstream = await startTestUpstream();
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-sighup-'));
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'idp.xml'), idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }));
  writeFileSync(
    join(dir, 'gatehouse.yaml'),
    stringify({
      server: { listen: `127.0.0.1:${port}`, public_url: url, watch_policies: false },
      session: { secret: TEST_SECRET },
      saml: { connections: [{ id: 'lab', idp_metadata_file: 'idp.xml' }] },
      policies: ['policies/*.yaml'],
    }),
  );
  writeRoutes(['admins']);
  child = spawn(process.execPath, ['--import', 'tsx', 'proxy/main.ts', 'serve', '--config', join(dir, 'gatehouse.yaml')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  try {
    await until('gatehouse serve is ready', async () => (await fetch(`${url}/.gatehouse/readyz`)).status === 200, 30_000);
    dana = await signIn(url, 'lab', 'dana@example.com', ['data-scientists']);
  } catch (err) {
    await stopChild();
    throw err;
  }
});

after(async () => {
  try {
    await stopChild();
  } finally {
    await upstream?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

describe('gatehouse serve reloads its policies on SIGHUP', { timeout: 90_000 }, () => {
  test('with watch_policies off, an edit waits for SIGHUP, which applies it without a restart', async () => {
    assert.equal(await status(), 403);
    writeRoutes(['admins', 'data-scientists']);
    await sleep(800); // longer than the watcher's quiet period, were it on
    assert.equal(await status(), 403, 'no watcher: the edit is not applied yet');
    assert.equal((await policyStatus()).generation, 1);

    process.kill(child!.pid!, 'SIGHUP');
    await until('dana is allowed', async () => (await status()) === 200);
    const p = await policyStatus();
    assert.deepEqual([p.generation, p.status], [2, 'current']);
    await until('the reload is logged', () => logged('policy-reloaded').length === 1);
    assert.deepEqual(logged('policy-reloaded')[0]!.changed, ['lab-api']);
  });

  test('a broken edit and SIGHUP keep the old policy serving and log the code', async () => {
    writeFileSync(policyFile(), 'routes:\n  - name: lab-api\n    path: /api\n    upstream: [not a url\n');
    process.kill(child!.pid!, 'SIGHUP');
    await until('readiness says stale', async () => (await policyStatus()).status === 'stale');
    assert.equal(await status(), 200, 'the last good policy keeps serving');
    assert.equal(child!.exitCode, null, 'still running');
    await until('the failure is logged', () => logged('policy-reload-failed').length === 1);
    const line = logged('policy-reload-failed')[0]!;
    assert.equal(line.code, 'POLICY_RELOAD_FAILED');
    assert.ok((line.problems as string[]).some((p) => p.includes('routes.yaml:')), String(line.problems));
  });
});
