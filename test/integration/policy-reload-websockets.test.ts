/**
 * Open websockets after a policy reload: a handshake is decided once, but the socket lives on.
 * A reload decides every open one again (route match for its host, path and method, then the
 * policy for the identity that opened it) and closes those the new policy refuses or whose route
 * is gone, with one log line each; the ones it still admits stay open and keep working.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { stringify } from 'yaml';
import type { CookieJar } from '../helpers/cookie-jar.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { signIn, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

let gh: RunningGatehouse;
let upstream: TestUpstream;
let dana: CookieJar;
let erin: CookieJar;
/** Every socket opened, ended before Gatehouse stops (a failed test may leave one open). */
const opened: WebSocket[] = [];

const wsRoute = (groups: string[]) => ({ name: 'lab-ws', path: '/ws', upstream: upstream.url, allow: [{ groups }], websockets: true });
const writeRoutes = (routes: unknown[]) => writeFileSync(join(gh.dir, 'policies', 'routes.yaml'), stringify({ routes }));

before(async () => {
  upstream = await startTestUpstream();
  gh = await startGatehouse({
    files: { 'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }) },
    connections: [{ id: 'lab', idp_metadata_file: 'idp.xml' }],
    routes: [wsRoute(['data-scientists', 'admins'])],
    // Reloads here are asked for (gh.app.reload()), so the test decides when they happen.
    config: { server: { watch_policies: false } },
  });
  dana = await signIn(gh.url, 'lab', 'dana@example.com', ['data-scientists']);
  erin = await signIn(gh.url, 'lab', 'erin@example.com', ['admins']);
});

after(async () => {
  for (const ws of opened) ws.terminate();
  await gh?.stop();
  await upstream?.close();
});

/** An open websocket through Gatehouse, the request id its handshake had, and its close. */
interface Open {
  ws: WebSocket;
  requestId: string;
  closed: Promise<number>;
}

async function openSocket(jar: CookieJar): Promise<Open> {
  const ws = new WebSocket(`${gh.url.replace('http', 'ws')}/ws/feed`, { headers: { cookie: jar.header()! } });
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('error', () => {});
  opened.push(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
  });
  const requestId = String(upstream.seen.filter((s) => s.method === 'UPGRADE').at(-1)!.headers['x-request-id']);
  return { ws, requestId, closed };
}

/** Sends a message and waits for the upstream's echo. */
async function echoes(ws: WebSocket, text: string): Promise<boolean> {
  if (ws.readyState !== WebSocket.OPEN) return false;
  const back = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
  ws.send(text);
  return (await Promise.race([back, sleep(2_000).then(() => '')])) === text;
}

const revoked = () => gh.logs.find((l) => l.event === 'upgrade-revoked');

describe('open websockets across a policy reload', { timeout: 30_000 }, () => {
  test('revocation of an open websocket: a reload that drops the user group closes their socket, and one it still allows stays open', async () => {
    const d = await openSocket(dana);
    const e = await openSocket(erin);
    assert.ok(await echoes(d.ws, 'before'), 'dana is connected');
    assert.ok(await echoes(e.ws, 'before'), 'erin is connected');

    writeRoutes([wsRoute(['admins'])]);
    assert.equal((await gh.app.reload()).generation, 2);

    const code = await Promise.race([d.closed, sleep(3_000).then(() => 'still open')]);
    assert.notEqual(code, 'still open', "dana's socket is closed by the reload that revoked her group");
    assert.ok(await echoes(e.ws, 'after'), "erin's socket stays open and still works");

    const lines = revoked();
    assert.equal(lines.length, 1, 'one line per closed socket');
    const line = lines[0]!;
    assert.equal(line.level, 'warn');
    assert.equal(line.req_id, d.requestId, 'the line names the handshake that is closed');
    assert.equal(line.user, 'dana@example.com');
    assert.equal(line.route, 'lab-ws');
    assert.equal(line.reason, 'groups-unauthorized');
    assert.equal(line.generation, 2);
    e.ws.close();
    await e.closed;
  });

  test('revocation of an open websocket: a reload that removes its route closes it', async () => {
    const e = await openSocket(erin);
    writeRoutes([{ name: 'other', path: '/other', upstream: upstream.url, allow: [{ authenticated: true }] }]);
    await gh.app.reload();
    const code = await Promise.race([e.closed, sleep(3_000).then(() => 'still open')]);
    assert.notEqual(code, 'still open');
    const line = revoked().at(-1)!;
    assert.deepEqual([line.req_id, line.user, line.reason], [e.requestId, 'erin@example.com', 'no-route']);
  });
});

describe('open websockets when their session ends', { timeout: 30_000 }, () => {
  before(async () => {
    writeRoutes([wsRoute(['data-scientists', 'admins'])]);
    assert.equal((await gh.app.reload()).status, 'current');
  });

  test('logout closes the user\'s open websockets at once (a signed-out notebook keeps no kernel connection)', async () => {
    const jar = await signIn(gh.url, 'lab', 'erin@example.com', ['admins']);
    const mine = await openSocket(jar);
    const others = await openSocket(erin);
    const res = await fetch(`${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { cookie: jar.header()!, origin: gh.url, accept: 'application/json' } });
    assert.equal(res.status, 200);
    assert.equal(await Promise.race([mine.closed, sleep(2_000).then(() => -1)]), 1006, 'closed at TCP level right after logout');
    assert.ok(revoked().some((l) => l.req_id === mine.requestId && l.reason === 'session-ended'));
    assert.ok(await echoes(others.ws, 'still here'), 'another session of the same user keeps its socket');
  });

  test('an admin revocation closes the revoked session\'s websockets', async () => {
    const jar = await signIn(gh.url, 'lab', 'dana@example.com', ['data-scientists']);
    const ws = await openSocket(jar);
    const id = jar.get('gatehouse_session')!.split('.')[0]!;
    await gh.app.context.sessionAdmin.revokeId(id);
    assert.equal(await Promise.race([ws.closed, sleep(2_000).then(() => -1)]), 1006);
    assert.ok(revoked().some((l) => l.req_id === ws.requestId && l.reason === 'session-ended'));
  });
});
