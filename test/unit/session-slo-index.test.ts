/**
 * The Single Logout index: sessions filed at login under HMAC(secret, connection, IdP, NameID
 * [, SessionIndex]) so an IdP's LogoutRequest is a lookup that ends exactly the named sessions.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../proxy/clock.js';
import type { Identity } from '../../proxy/policy/types.js';
import { MemorySessionStore } from '../../proxy/session/memory-store.js';
import { SessionAdmin } from '../../proxy/session/session-admin.js';
import { SessionManager } from '../../proxy/session/session-manager.js';

const SECRET = 'slo-index-test-secret-0123456789abcdef';
const OLD = 'slo-index-old-secret-fedcba9876543210xx';
const IDP = 'https://idp.example/metadata';

function setup(secrets = [SECRET]) {
  const clock = new ManualClock();
  const store = new MemorySessionStore(clock);
  const settings = { secrets, idleTimeoutMs: 3_600_000, maxLifetimeMs: 7_200_000, cacheTtlMs: 0, cacheMaxEntries: 10, outageGraceMs: 0 };
  const sessions = new SessionManager(store, settings, clock);
  return { store, sessions, admin: new SessionAdmin(store, sessions.keys, clock), clock, settings };
}

const who = (user: string, connection = 'lab'): Identity => ({ user, email: user, groups: [], connection }) as Identity;

test('a LogoutRequest lookup ends every session of that NameID at that connection, and only those', async () => {
  const { sessions, admin } = setup();
  const a1 = await sessions.create(who('alice'), { nameId: 'alice', issuer: IDP, sessionIndex: 's1' });
  const a2 = await sessions.create(who('alice'), { nameId: 'alice', issuer: IDP, sessionIndex: 's2' });
  const bob = await sessions.create(who('bob'), { nameId: 'bob', issuer: IDP, sessionIndex: 's3' });
  const other = await sessions.create(who('alice', 'other'), { nameId: 'alice', issuer: IDP, sessionIndex: 's4' });
  const { revoked } = await admin.revokeSamlSubject({ connection: 'lab', issuer: IDP, nameId: 'alice' });
  assert.equal(revoked.length, 2);
  assert.equal(await sessions.open(a1.token), undefined);
  assert.equal(await sessions.open(a2.token), undefined);
  assert.ok(await sessions.open(bob.token), 'another user survives');
  assert.ok(await sessions.open(other.token), 'the same NameID through another connection survives');
});

test('with a SessionIndex only that login ends', async () => {
  const { sessions, admin } = setup();
  const a1 = await sessions.create(who('alice'), { nameId: 'alice', issuer: IDP, sessionIndex: 's1' });
  const a2 = await sessions.create(who('alice'), { nameId: 'alice', issuer: IDP, sessionIndex: 's2' });
  await admin.revokeSamlSubject({ connection: 'lab', issuer: IDP, nameId: 'alice', sessionIndex: 's1' });
  assert.equal(await sessions.open(a1.token), undefined);
  assert.ok(await sessions.open(a2.token));
});

test('NameIDs match exactly: another case or another IdP ends nothing', async () => {
  const { sessions, admin } = setup();
  const a = await sessions.create(who('alice'), { nameId: 'Alice', issuer: IDP });
  assert.deepEqual((await admin.revokeSamlSubject({ connection: 'lab', issuer: IDP, nameId: 'alice' })).revoked, []);
  assert.deepEqual((await admin.revokeSamlSubject({ connection: 'lab', issuer: 'https://evil.example/', nameId: 'Alice' })).revoked, []);
  assert.ok(await sessions.open(a.token));
});

test('index keys hide the NameID (a store dump cannot be searched by it) and parts cannot be shifted into a collision', () => {
  const { sessions } = setup();
  const k1 = sessions.keys.subjectKeys({ connection: 'lab', issuer: IDP, nameId: 'a|b' })[0]!;
  const k2 = sessions.keys.subjectKeys({ connection: 'lab', issuer: `${IDP}|a`, nameId: 'b' })[0]!;
  assert.notEqual(k1, k2);
  assert.ok(!k1.includes('a|b') && /^[A-Za-z0-9_-]{43}$/.test(k1));
});

test('sessions filed under a previous secret are still found after a rotation', async () => {
  const before = setup([OLD]);
  const a = await before.sessions.create(who('alice'), { nameId: 'alice', issuer: IDP });
  const rotated = new SessionManager(before.store, { ...before.settings, secrets: [SECRET, OLD] }, before.clock);
  const admin = new SessionAdmin(before.store, rotated.keys, before.clock);
  assert.equal((await admin.revokeSamlSubject({ connection: 'lab', issuer: IDP, nameId: 'alice' })).revoked.length, 1);
  assert.equal(await rotated.open(a.token), undefined);
});
