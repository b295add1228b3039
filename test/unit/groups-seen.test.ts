/**
 * The groups-seen record: which group names assertions have carried, per name first/last seen
 * and connections; bounded; persisted to a JSON file written atomically (0600, temp + rename),
 * at most every few seconds and on close; a corrupt or unreadable file is logged, never fatal.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManualClock } from '../../proxy/clock.js';
import { GroupsSeenSet, parseGroupsSeen } from '../../proxy/policy/groups-seen.js';
import { GROUPS_SEEN_EVENTS, GroupsSeenFile, openGroupsSeen, readGroupsSeenFile } from '../../proxy/store/groups-seen-file.js';
import { captureLogs } from '../helpers/log-capture.js';

const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);
const root = mkdtempSync(join(tmpdir(), 'gatehouse-groups-seen-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => {
  const dir = join(root, String(++n));
  mkdirSync(dir);
  return dir;
};

describe('GroupsSeenSet (in memory)', () => {
  test('records names with first and last seen, connections and the login count', async () => {
    const clock = new ManualClock(T0);
    const seen = new GroupsSeenSet(clock);
    seen.record({ groups: ['ml-engineers', 'admins'], connection: 'entra' });
    clock.advance(60_000);
    seen.record({ groups: ['ml-engineers'], connection: 'okta' });
    seen.record({ groups: [], connection: 'okta' });
    assert.deepEqual((await seen.names()).sort(), ['admins', 'ml-engineers']);
    const rec = seen.snapshot();
    assert.equal(rec.logins, 3);
    assert.equal(rec.since, '2026-11-01T09:00:00.000Z');
    assert.deepEqual(rec.groups['ml-engineers'], { first_seen: '2026-11-01T09:00:00.000Z', last_seen: '2026-11-01T09:01:00.000Z', connections: ['entra', 'okta'] });
    assert.equal(rec.overflowed, false);
  });

  test('is bounded: past the cap no new name is added, known names still update, and it says it overflowed', async () => {
    const clock = new ManualClock(T0);
    const seen = new GroupsSeenSet(clock, 3);
    seen.record({ groups: ['a', 'b', 'c', 'd'], connection: 'x' });
    clock.advance(1000);
    seen.record({ groups: ['e', 'a'], connection: 'y' });
    assert.deepEqual(await seen.names(), ['a', 'b', 'c']);
    const rec = seen.snapshot();
    assert.equal(rec.overflowed, true);
    assert.deepEqual(rec.groups.a?.connections, ['x', 'y']);
    assert.equal(rec.groups.a?.last_seen, '2026-11-01T09:00:01.000Z');
  });

  test('a loaded record larger than the cap is cut to it and marked overflowed', async () => {
    const big = new GroupsSeenSet(new ManualClock(T0), 10);
    big.record({ groups: ['a', 'b', 'c', 'd'], connection: 'x' });
    const small = new GroupsSeenSet(new ManualClock(T0), 2, big.snapshot());
    assert.equal((await small.names()).length, 2);
    assert.equal(small.snapshot().overflowed, true);
  });

  test('names longer than any policy can write (256) are not recorded', async () => {
    const seen = new GroupsSeenSet(new ManualClock(T0));
    seen.record({ groups: ['x'.repeat(257), 'ok'], connection: 'c' });
    assert.deepEqual(await seen.names(), ['ok']);
  });
});

describe('GroupsSeenFile (persisted)', () => {
  test('round trip: a missing file starts empty; close writes; a new open reads it back', async () => {
    const path = join(freshDir(), 'groups-seen.json');
    const clock = new ManualClock(T0);
    const logs = captureLogs();
    const first = await GroupsSeenFile.open(path, { clock, log: logs.log, flushMs: 60_000 });
    assert.deepEqual(await first.names(), []);
    first.record({ groups: ['ml-engineers'], connection: 'entra' });
    await first.close();
    assert.equal(logs.lines.length, 0, logs.text());
    clock.advance(86_400_000);
    const second = await GroupsSeenFile.open(path, { clock, log: logs.log, flushMs: 60_000 });
    second.record({ groups: ['ml-engineers', 'admins'], connection: 'okta' });
    await second.close();
    const rec = readGroupsSeenFile(path);
    assert.equal(rec.since, '2026-11-01T09:00:00.000Z', 'since survives restarts');
    assert.equal(rec.logins, 2);
    assert.deepEqual(rec.groups['ml-engineers'], { first_seen: '2026-11-01T09:00:00.000Z', last_seen: '2026-11-02T09:00:00.000Z', connections: ['entra', 'okta'] });
    assert.ok(rec.groups.admins);
  });

  test('writes a few seconds after a change (not at once), and not at all when nothing changed', async () => {
    const path = join(freshDir(), 'seen.json');
    const seen = await GroupsSeenFile.open(path, { clock: new ManualClock(T0), log: captureLogs().log, flushMs: 50 });
    await seen.flush();
    assert.throws(() => statSync(path), /ENOENT/, 'nothing recorded, nothing written');
    seen.record({ groups: ['a'], connection: 'c' });
    seen.record({ groups: ['b'], connection: 'c' });
    assert.throws(() => statSync(path), /ENOENT/, 'not written synchronously with the login');
    await sleep(150);
    assert.deepEqual(Object.keys(readGroupsSeenFile(path).groups).sort(), ['a', 'b']);
    rmSync(path);
    await seen.close();
    assert.throws(() => statSync(path), /ENOENT/, 'unchanged since the last write: close writes nothing');
  });

  test('the write is atomic: a new file (mode 0600) renamed over the old one, no temp file left', async () => {
    const dir = freshDir();
    const path = join(dir, 'seen.json');
    writeFileSync(path, `${JSON.stringify(new GroupsSeenSet(new ManualClock(T0)).snapshot())}\n`, { mode: 0o644 });
    chmodSync(path, 0o644);
    const before = statSync(path).ino;
    const seen = await GroupsSeenFile.open(path, { clock: new ManualClock(T0), log: captureLogs().log, flushMs: 60_000 });
    seen.record({ groups: ['a'], connection: 'c' });
    await seen.close();
    const st = statSync(path);
    assert.notEqual(st.ino, before, 'replaced by rename, never rewritten in place');
    assert.equal(st.mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['seen.json']);
    assert.doesNotThrow(() => parseGroupsSeen(readFileSync(path, 'utf8')));
  });

  test('a write that fails is logged, never thrown, and leaves no temp file', async () => {
    const dir = freshDir();
    const path = join(dir, 'gone', 'seen.json');
    const logs = captureLogs();
    const seen = await GroupsSeenFile.open(path, { clock: new ManualClock(T0), log: logs.log, flushMs: 60_000 });
    seen.record({ groups: ['a'], connection: 'c' });
    await seen.close();
    assert.equal(logs.find((l) => l.event === GROUPS_SEEN_EVENTS.writeFailed).length, 1);
    assert.deepEqual(readdirSync(dir), []);
  });

  const CORRUPT: { name: string; content: string | null }[] = [
    { name: 'not JSON', content: '{"version": 1, "since": ' },
    { name: 'JSON of another shape', content: '{"version": 2, "groups": []}' },
    { name: 'a bad date', content: '{"version":1,"since":"yesterday","logins":0,"overflowed":false,"groups":{}}' },
    { name: 'a directory where the file should be', content: null },
  ];
  for (const c of CORRUPT) {
    test(`a corrupt file (${c.name}) is logged and ignored, never fatal, then replaced`, async () => {
      const path = join(freshDir(), 'seen.json');
      if (c.content === null) mkdirSync(path);
      else writeFileSync(path, c.content);
      const logs = captureLogs();
      const seen = await GroupsSeenFile.open(path, { clock: new ManualClock(T0), log: logs.log, flushMs: 60_000 });
      assert.deepEqual(await seen.names(), []);
      assert.equal(logs.find((l) => l.event === GROUPS_SEEN_EVENTS.loadFailed && l.path === path).length, 1, logs.text());
      assert.throws(() => readGroupsSeenFile(path));
      if (c.content === null) return;
      seen.record({ groups: ['a'], connection: 'c' });
      await seen.close();
      assert.deepEqual(Object.keys(readGroupsSeenFile(path).groups), ['a']);
    });
  }

  test('openGroupsSeen keeps the record in memory when no file is configured', async () => {
    const seen = await openGroupsSeen(undefined, { clock: new ManualClock(T0), log: captureLogs().log });
    assert.ok(seen instanceof GroupsSeenSet);
    seen.record({ groups: ['a'], connection: 'c' });
    assert.deepEqual(await seen.names(), ['a']);
    await seen.close();
  });
});
