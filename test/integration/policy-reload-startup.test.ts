/**
 * Edits and SIGHUPs while Gatehouse starts: the policy files are read before the IdP metadata
 * is fetched, so an edit made during that fetch is newer than what serves. The watcher compares
 * against the bytes that were loaded (not a read after the fetch) and applies it; a SIGHUP that
 * arrives before the server exists is kept and applied once it does (real CLI, own process).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { loadConfig } from '../../proxy/config/load.js';
import { Gatehouse } from '../../proxy/server/app.js';
import { jarFetch, type CookieJar } from '../helpers/cookie-jar.js';
import { freePort } from '../helpers/free-port.js';
import { idpMetadataXml, TEST_SECRET } from '../helpers/gatehouse.js';
import { captureLogs } from '../helpers/log-capture.js';
import { signIn, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const cleanups: (() => Promise<void> | void)[] = [];

after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** IdP metadata over HTTP that answers only once released: Gatehouse's start waits on it. */
interface HeldMetadata {
  url: string;
  /** Resolves when Gatehouse has asked for the metadata (it is starting, files already read). */
  requested: Promise<void>;
  release(): void;
}

async function heldMetadata(): Promise<HeldMetadata> {
  let requested!: () => void;
  let release!: () => void;
  const asked = new Promise<void>((r) => (requested = r));
  const released = new Promise<void>((r) => (release = r));
  const xml = idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] });
  const server: Server = createServer((_req, res) => {
    requested();
    void released.then(() => res.writeHead(200, { 'content-type': 'application/xml' }).end(xml));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    release();
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/md`, requested: asked, release };
}

/** A config dir whose one route admits `groups` to /api; returns paths and the URL it will serve. */
async function configDir(metadataUrl: string, upstream: TestUpstream, watch: boolean) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-reload-startup-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'policies'));
  const config = join(dir, 'gatehouse.yaml');
  writeFileSync(
    config,
    stringify({
      server: { listen: `127.0.0.1:${port}`, public_url: url, watch_policies: watch },
      session: { secret: TEST_SECRET },
      saml: { connections: [{ id: 'lab', idp_metadata_url: metadataUrl }] },
      policies: ['policies/*.yaml'],
    }),
  );
  const writeRoutes = (groups: string[]) =>
    writeFileSync(join(dir, 'policies', 'routes.yaml'), stringify({ routes: [{ name: 'lab-api', path: '/api', upstream: upstream.url, allow: [{ groups }] }] }));
  writeRoutes(['admins']);
  return { url, config, writeRoutes };
}

async function until(what: string, probe: () => Promise<boolean> | boolean, ms = 8_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await Promise.resolve().then(probe).catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting until ${what}`);
    await sleep(50);
  }
}

async function status(jar: CookieJar, url: string): Promise<number> {
  const res = await jarFetch(jar, `${url}/api/models`);
  await res.arrayBuffer();
  return res.status;
}

async function generation(url: string): Promise<number> {
  return ((await (await fetch(`${url}/.gatehouse/readyz`)).json()) as { policy: { generation: number } }).policy.generation;
}

describe('policy edits while Gatehouse starts', { timeout: 90_000 }, () => {
  test('an edit made during startup (while IdP metadata is fetched) is applied by the watcher once Gatehouse serves', async () => {
    const upstream = await startTestUpstream();
    cleanups.push(() => upstream.close());
    const md = await heldMetadata();
    const { url, config, writeRoutes } = await configDir(md.url, upstream, true);
    const starting = Gatehouse.start({ loaded: loadConfig(config, {}), log: captureLogs().log, env: {} });
    await md.requested;
    writeRoutes(['admins', 'data-scientists']);
    await sleep(100);
    md.release();
    const app = await starting;
    cleanups.push(() => app.stop());

    const dana = await signIn(url, 'lab', 'dana@example.com', ['data-scientists']);
    await until('the edit made during startup serves', async () => (await status(dana, url)) === 200);
    assert.equal(await generation(url), 2);
  });

  test('a SIGHUP during startup is kept, not dropped: gatehouse serve applies it once it serves', async () => {
    const upstream = await startTestUpstream();
    cleanups.push(() => upstream.close());
    const md = await heldMetadata();
    const { url, config, writeRoutes } = await configDir(md.url, upstream, false);
    let output = '';
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'proxy/main.ts', 'serve', '--config', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
    cleanups.push(() => stopChild(child));

    await Promise.race([md.requested, sleep(30_000).then(() => assert.fail(`never asked for metadata:\n${output}`))]);
    writeRoutes(['admins', 'data-scientists']);
    process.kill(child.pid!, 'SIGHUP');
    await sleep(300);
    assert.equal(child.exitCode, null, 'SIGHUP during startup does not end the process');
    md.release();

    await until('gatehouse serve is ready', async () => (await fetch(`${url}/.gatehouse/readyz`)).status === 200, 30_000);
    const dana = await signIn(url, 'lab', 'dana@example.com', ['data-scientists']);
    await until('the SIGHUP was applied', async () => (await status(dana, url)) === 200, 5_000);
    assert.equal(await generation(url), 2);
  });
});

/** Stops the child by its pid: SIGTERM, then SIGKILL if it has not exited within 5 s. */
async function stopChild(c: ChildProcess): Promise<void> {
  if (!c.pid || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
  process.kill(c.pid, 'SIGTERM');
  const timer = setTimeout(() => c.exitCode === null && c.signalCode === null && process.kill(c.pid!, 'SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
