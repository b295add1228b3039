/**
 * Browser sign-in lineages (docs/cli-tokens.md, "Bound to the browser sign-in"): the index that
 * lets a sign-out end the CLI sessions its browser sign-in approved, the record that outlives an
 * idled-out browser session, and the rule for which login continues a lineage.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../proxy/clock.js';
import type { Identity } from '../../proxy/policy/types.js';
import { continuedLineage, LineageRecords } from '../../proxy/session/lineage-records.js';
import { MemorySessionStore } from '../../proxy/session/memory-store.js';
import { SessionAdmin } from '../../proxy/session/session-admin.js';
import { newToken } from '../../proxy/session/session-keys.js';
import { SessionManager } from '../../proxy/session/session-manager.js';
import { MemoryStateStore } from '../../proxy/store/state-store.js';

const SECRET = 'lineage-test-secret-0123456789abcdef0123';
const OLD = 'lineage-old-secret-fedcba9876543210fedc';
const MINUTE = 60_000;
const alice: Identity = { user: 'alice', email: 'alice@example.com', groups: [], connection: 'okta' };
const SAML = { nameId: 'alice' };

function setup(secrets = [SECRET], clock = new ManualClock(), store = new MemorySessionStore(clock)) {
  const settings = { secrets, idleTimeoutMs: 30 * MINUTE, maxLifetimeMs: 12 * 60 * MINUTE, cliIdleTimeoutMs: 8 * 60 * MINUTE, cacheTtlMs: 0, cacheMaxEntries: 10, outageGraceMs: 0 };
  const sessions = new SessionManager(store, settings, clock);
  return { clock, store, sessions, admin: new SessionAdmin(store, sessions.keys, clock) };
}

describe('the lineage index', () => {
  test('revokeLineage ends the browser session and the CLI sessions of its lineage, counts the CLI ones, and leaves other lineages alone', async () => {
    const { sessions, admin } = setup();
    const browser = await sessions.create(alice, SAML);
    const cli = await sessions.create(alice, SAML, { client: 'cli', lineage: browser.session.lineage! });
    const elsewhere = await sessions.create(alice, SAML);
    const otherCli = await sessions.create(alice, SAML, { client: 'cli', lineage: elsewhere.session.lineage! });
    const ended = await admin.revokeLineage(browser.session.lineage!);
    assert.equal(ended.revoked.length, 2);
    assert.equal(ended.cli, 1);
    assert.equal(await sessions.open(browser.token), undefined);
    assert.equal(await sessions.open(cli.token), undefined);
    assert.ok(await sessions.open(elsewhere.token));
    assert.ok(await sessions.open(otherCli.token), 'a CLI login approved from another browser lives on');
  });

  test('secret rotation: a CLI session filed under the secret being rotated out is still found by its lineage', async () => {
    const clock = new ManualClock();
    const store = new MemorySessionStore(clock);
    const before = setup([OLD], clock, store);
    const browser = await before.sessions.create(alice, SAML);
    const cli = await before.sessions.create(alice, SAML, { client: 'cli', lineage: browser.session.lineage! });
    const after = setup([SECRET, OLD], clock, store);
    assert.equal((await after.admin.revokeLineage(browser.session.lineage!)).cli, 1);
    assert.equal(await after.sessions.open(cli.token), undefined);
  });
});

describe('the lineage record a cookie leaves', () => {
  test('outlives the idled-out browser session until its absolute end, then is gone', async () => {
    const { clock, sessions } = setup();
    const records = new LineageRecords(new MemoryStateStore(clock), clock);
    const { token, session } = await sessions.create(alice, SAML);
    await records.keep(token, session);
    clock.advance(31 * MINUTE);
    assert.equal(await sessions.open(token), undefined, 'the browser session idled out');
    assert.deepEqual(await records.read(token), { lineage: session.lineage, user: 'alice', connection: 'okta' });
    clock.advance(12 * 60 * MINUTE);
    assert.equal(await records.read(token), undefined, 'gone at the session\'s absolute end');
  });

  test('planted lineage: only the whole cookie opens a record; a bare id, another cookie\'s key or a value written into the store open nothing', async () => {
    const clock = new ManualClock();
    const state = new MemoryStateStore(clock);
    const records = new LineageRecords(state, clock);
    const { sessions } = setup([SECRET], clock);
    const { token, session } = await sessions.create(alice, SAML);
    await records.keep(token, session);
    const [id] = token.split('.') as [string];
    assert.equal(await records.read(`${id}.${newToken().key}`), undefined, 'the same id with another key');
    assert.equal(await records.read(id), undefined);
    const mallory = await sessions.create({ ...alice, user: 'mallory' }, SAML);
    const [mid] = mallory.token.split('.') as [string];
    await records.keep(mallory.token, mallory.session);
    await state.put(`lineage:${id}`, (await state.get(`lineage:${mid}`))!, MINUTE);
    assert.equal(await records.read(token), undefined, 'a record moved to another id does not open');
    await records.forget(mallory.token);
    assert.equal(await records.read(mallory.token), undefined, 'forgotten');
  });

  test('CLI and service sessions leave no record', async () => {
    const { clock, sessions } = setup();
    const records = new LineageRecords(new MemoryStateStore(clock), clock);
    const browser = await sessions.create(alice, SAML);
    const cli = await sessions.create(alice, SAML, { client: 'cli', lineage: browser.session.lineage! });
    await records.keep(cli.token, cli.session);
    assert.equal(await records.read(cli.token), undefined);
  });
});

describe('which login continues a lineage', () => {
  const prior = { lineage: 'L1', user: 'alice', connection: 'okta' };
  test('the same user through the same connection continues it', () => {
    assert.deepEqual(continuedLineage(prior, alice), { lineage: 'L1' });
  });
  test('shared browser: another user starts a new one', () => {
    assert.deepEqual(continuedLineage(prior, { ...alice, user: 'bob' }), {});
  });
  test('the same name through another connection (another IdP\'s "alice") starts a new one', () => {
    assert.deepEqual(continuedLineage(prior, { ...alice, connection: 'entra' }), {});
  });
  test('nothing held: a new one', () => {
    assert.deepEqual(continuedLineage(undefined, alice), {});
  });
});
