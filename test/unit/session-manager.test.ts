/**
 * Sessions: a fresh random id and key per login (no fixation), the store holding only sealed
 * values under the id (a store dump yields no cookie and no identity), idle and absolute
 * lifetimes enforced on the injected clock, activity written back at most once a minute, the
 * in-process cache evicted by announced ends, and the outage grace.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../proxy/clock.js';
import { fail } from '../../proxy/errors.js';
import type { Identity } from '../../proxy/policy/types.js';
import { MemorySessionStore } from '../../proxy/session/memory-store.js';
import { SessionAdmin } from '../../proxy/session/session-admin.js';
import { SessionManager, type SessionSettings } from '../../proxy/session/session-manager.js';
import type { EndedListener, SessionStore, StoreHealth } from '../../proxy/session/types.js';

const MINUTE = 60_000;
const SECRET = 'test-only-4f9c1e7a2b8d6350a1c9e2f7b4d8a6c3';
const ROTATED = 'test-only-rotated-9b1d7c3e5a2f4068e1d3c5b7a9f0e2d4';
/** No cache: every open asks the store, so the calls below are what a Redis store would see. */
const SETTINGS: SessionSettings = { secrets: [SECRET], idleTimeoutMs: 30 * MINUTE, maxLifetimeMs: 12 * 60 * MINUTE, cacheTtlMs: 0, cacheMaxEntries: 100, outageGraceMs: 0 };
const ALICE: Identity = { user: 'alice', email: 'alice@example.com', groups: ['ml-engineers'], connection: 'lab' };
const SAML = { nameId: 'alice@example.com', sessionIndex: '_idx1' };
const TOKEN = /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/;

/** A store that records every call, wrapping the real memory store; `down` makes it fail like an unreachable Redis. */
class RecordingStore implements SessionStore {
  readonly kind = 'memory';
  readonly calls: Array<{ op: string; id?: string; value?: string; ttlMs?: number }> = [];
  down = false;
  listening = true;
  constructor(readonly inner: MemorySessionStore) {}
  private check(op: string, id?: string, extra: { value?: string; ttlMs?: number } = {}) {
    this.calls.push({ op, id, ...extra });
    if (this.down) throw fail('SESSION_STORE_UNAVAILABLE', 'session-store-unreachable');
  }
  async create(id: string, value: string, ttlMs: number, expiresAt: number, keys: readonly string[]) {
    this.check('create', id, { value, ttlMs });
    return this.inner.create(id, value, ttlMs, expiresAt, keys);
  }
  async get(id: string) {
    this.check('get', id);
    return this.inner.get(id);
  }
  async refresh(id: string, value: string, ttlMs: number) {
    this.check('refresh', id, { value, ttlMs });
    return this.inner.refresh(id, value, ttlMs);
  }
  async delete(ids: readonly string[]) {
    this.check('delete', ids.join(','));
    return this.inner.delete(ids);
  }
  indexed(key: string | undefined, limit: number, offset?: number) {
    return this.inner.indexed(key, limit, offset);
  }
  getMany(ids: readonly string[]) {
    return this.inner.getMany(ids);
  }
  async announceEnded(ids: readonly string[]) {
    this.check('announce', ids.join(','));
    return this.inner.announceEnded(ids);
  }
  readonly listeners: EndedListener[] = [];
  onEnded(l: EndedListener) {
    this.listeners.push(l);
    this.inner.onEnded(l);
  }
  health(): StoreHealth {
    return { ...this.inner.health(), listening: this.listening };
  }
  close() {
    return this.inner.close();
  }
  ops(op: string) {
    return this.calls.filter((c) => c.op === op);
  }
}

const open: RecordingStore[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

function setup(settings: SessionSettings = SETTINGS) {
  const clock = new ManualClock();
  const store = new RecordingStore(new MemorySessionStore(clock));
  open.push(store);
  return { clock, store, sessions: new SessionManager(store, settings, clock) };
}

describe('SessionManager.create', () => {
  it('issues a new random 256-bit token for every login, even for the same user (session fixation)', async () => {
    const { sessions } = setup();
    const tokens = new Set<string>();
    for (let i = 0; i < 50; i++) tokens.add((await sessions.create(ALICE, SAML)).token);
    assert.equal(tokens.size, 50);
    for (const t of tokens) assert.match(t, TOKEN, 'id (128 bits) and key (256 bits)');
    assert.equal(new Set([...tokens].map((t) => t.split('.')[0])).size, 50, 'ids are fresh too');
  });

  it('records creation, activity and the absolute end', async () => {
    const { sessions, clock, store } = setup();
    const { session } = await sessions.create(ALICE, SAML);
    const { lineage, ...rest } = session;
    assert.deepEqual(rest, { identity: ALICE, createdAt: clock.now(), lastSeenAt: clock.now(), expiresAt: clock.now() + SETTINGS.maxLifetimeMs, saml: SAML });
    assert.match(lineage ?? '', /^[A-Za-z0-9_-]{22}$/, 'a browser login starts a lineage of its own');
    assert.notEqual((await sessions.create(ALICE, SAML)).session.lineage, lineage);
    assert.deepEqual(store.ops('create').map((c) => c.ttlMs), [SETTINGS.idleTimeoutMs, SETTINGS.idleTimeoutMs]);
  });

  it('a CLI session takes the lineage it is given; a service session has none', async () => {
    const { sessions } = setup();
    const browser = await sessions.create(ALICE, SAML);
    const cli = await sessions.create(ALICE, SAML, { client: 'cli', lineage: browser.session.lineage! });
    assert.equal(cli.session.lineage, browser.session.lineage);
    assert.equal((await sessions.create(ALICE, SAML, { client: 'cli' })).session.lineage, undefined);
    assert.equal((await sessions.create({ user: 'ci', groups: [], connection: 'service-account' }, { nameId: 'ci' }, { client: 'service', lifetimeMs: MINUTE })).session.lineage, undefined);
  });
});

describe('SessionManager.open', () => {
  it('opens the session of a token it issued', async () => {
    const { sessions } = setup();
    const { token } = await sessions.create(ALICE, SAML);
    assert.deepEqual((await sessions.open(token))?.identity, ALICE);
  });

  const malformed: Array<[string, string | undefined]> = [
    ['undefined', undefined],
    ['empty', ''],
    ['too short', 'abc'],
    ['id only', 'a'.repeat(22)],
    ['no separator', 'a'.repeat(65)],
    ['key one character too long', `${'a'.repeat(22)}.${'a'.repeat(44)}`],
    ['key one character too short', `${'a'.repeat(22)}.${'a'.repeat(42)}`],
    ['id one character too long', `${'a'.repeat(23)}.${'a'.repeat(43)}`],
    ['base64 padding', `${'a'.repeat(22)}.${'a'.repeat(42)}=`],
    ['non-base64url characters', `${'a'.repeat(22)}.${'a'.repeat(42)}+`],
    ['injection attempt', `${'a'.repeat(22)}.${'a'.repeat(40)}' OR`],
    ['non-ASCII', `${'a'.repeat(22)}.${'a'.repeat(42)}ü`],
    ['the old single-part token shape', 'a'.repeat(43)],
  ];
  for (const [name, token] of malformed) {
    it(`refuses a malformed token without asking the store: ${name}`, async () => {
      const { sessions, store } = setup();
      assert.equal(await sessions.open(token), undefined);
      assert.equal(store.calls.length, 0);
    });
  }

  it('refuses a well-formed token it never issued (guessed cookie)', async () => {
    const { sessions } = setup();
    await sessions.create(ALICE, SAML);
    assert.equal(await sessions.open(`${'A'.repeat(22)}.${'A'.repeat(43)}`), undefined);
  });

  it('refuses another spelling of the same token bits (non-canonical base64url: a second cookie for one session would dodge cache eviction)', async () => {
    const { sessions } = setup();
    const { token } = await sessions.create(ALICE, SAML);
    const last = token.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(last) + 1]!; // same top 4 bits, a low bit set
    assert.ok(await sessions.open(token));
    assert.equal(await sessions.open(token.slice(0, -1) + sibling), undefined);
    const [id, key] = token.split('.') as [string, string];
    const idSibling = alphabet[alphabet.indexOf(id.at(-1)!) + 1]!;
    assert.equal(await sessions.open(`${id.slice(0, -1)}${idSibling}.${key}`), undefined);
  });

  it('refuses a real session id with a forged key (id seen in an admin listing or a dump)', async () => {
    const { sessions } = setup();
    const { token } = await sessions.create(ALICE, SAML);
    const [id] = token.split('.');
    assert.equal(await sessions.open(`${id}.${'B'.repeat(43)}`), undefined);
    assert.ok(await sessions.open(token), 'the real cookie still works');
  });
});

describe('SessionManager: lifetimes on the injected clock', () => {
  it('ends a session idle for idle_timeout (abandoned browser)', async () => {
    const { sessions, clock } = setup();
    const { token } = await sessions.create(ALICE, SAML);
    clock.advance(SETTINGS.idleTimeoutMs - 1);
    assert.ok(await sessions.open(token), 'alive just before the idle timeout');
    const fresh = await sessions.create(ALICE, SAML);
    clock.advance(SETTINGS.idleTimeoutMs);
    assert.equal(await sessions.open(fresh.token), undefined);
  });

  it('a CLI session idles out after tokens.cli_idle_timeout, not the browser idle_timeout; a service session never idles out', async () => {
    const { sessions, clock, store } = setup({ ...SETTINGS, cliIdleTimeoutMs: 8 * 60 * MINUTE });
    const browser = await sessions.create(ALICE, SAML);
    const cli = await sessions.create(ALICE, SAML, { client: 'cli' });
    const service = await sessions.create({ user: 'ci', groups: [], connection: 'service-account' }, { nameId: 'ci' }, { client: 'service', lifetimeMs: 24 * 60 * MINUTE });
    assert.deepEqual(store.ops('create').map((c) => c.ttlMs), [SETTINGS.idleTimeoutMs, 8 * 60 * MINUTE, 24 * 60 * MINUTE], 'each stored for its own idle (or whole) lifetime');
    clock.advance(SETTINGS.idleTimeoutMs);
    assert.equal(await sessions.open(browser.token), undefined, 'the browser session idled out');
    assert.ok(await sessions.open(cli.token), 'the CLI session lives on');
    clock.advance(8 * 60 * MINUTE);
    assert.equal(await sessions.open(cli.token), undefined, 'unused for cli_idle_timeout: ended');
    assert.ok(await sessions.open(service.token), 'a service token has no idle timeout');
    clock.advance(16 * 60 * MINUTE);
    assert.equal(await sessions.open(service.token), undefined, 'ended at its own end');
  });

  it('endsBy caps the absolute end at an instant: a derived session never outlives the one it came from, however late the call runs', async () => {
    const { sessions, clock } = setup({ ...SETTINGS, cliIdleTimeoutMs: 8 * 60 * MINUTE });
    const browser = await sessions.create(ALICE, SAML);
    clock.advance(12 * 60 * MINUTE - 5 * MINUTE);
    const cli = await sessions.create(ALICE, SAML, { client: 'cli', endsBy: browser.session.expiresAt });
    assert.equal(cli.session.expiresAt, browser.session.expiresAt, 'same end as the approving login, not a second max_lifetime');
    const later = await sessions.create(ALICE, SAML, { client: 'cli', lifetimeMs: MINUTE, endsBy: browser.session.expiresAt });
    assert.equal(later.session.expiresAt, clock.now() + MINUTE, 'the shorter of the two wins');
    clock.advance(5 * MINUTE);
    assert.equal(await sessions.open(cli.token), undefined, 'ended with the browser login');
  });

  it('keeps an active session past idle_timeout, and writes the activity back', async () => {
    const { sessions, clock, store } = setup();
    const { token } = await sessions.create(ALICE, SAML);
    for (let i = 0; i < 4; i++) {
      clock.advance(20 * MINUTE);
      assert.ok(await sessions.open(token), `alive after ${(i + 1) * 20} minutes of activity`);
    }
    assert.equal(store.ops('refresh').length, 4);
    assert.equal((await sessions.open(token))?.lastSeenAt, clock.now());
  });

  it('ends a session at max_lifetime however active it is (stolen cookie lives at most this long)', async () => {
    const { sessions, clock } = setup();
    const { token, session } = await sessions.create(ALICE, SAML);
    while (clock.now() + 20 * MINUTE < session.expiresAt) {
      clock.advance(20 * MINUTE);
      assert.ok(await sessions.open(token), `alive at ${clock.now() - session.createdAt} ms`);
    }
    clock.set(session.expiresAt - 1);
    assert.ok(await sessions.open(token), 'alive 1 ms before the absolute end');
    clock.set(session.expiresAt);
    assert.equal(await sessions.open(token), undefined);
  });

  it('the store forgets a session no later than its absolute end (touch never extends past it)', async () => {
    const { sessions, clock, store } = setup();
    const { token, session } = await sessions.create(ALICE, SAML);
    const near = session.expiresAt - 10 * MINUTE;
    while (clock.now() + 20 * MINUTE <= near) {
      clock.advance(20 * MINUTE);
      assert.ok(await sessions.open(token));
      const left = session.expiresAt - clock.now();
      assert.equal(store.ops('refresh').at(-1)?.ttlMs, Math.min(SETTINGS.idleTimeoutMs, left), `${left} ms left`);
    }
    clock.set(near);
    assert.ok(await sessions.open(token));
    assert.equal(store.ops('refresh').at(-1)?.ttlMs, 10 * MINUTE, 'near the end: only what is left');
  });

  it('enforces max_lifetime against a store that keeps entries forever', async () => {
    const clock = new ManualClock();
    // Its own clock never moves: entries never expire in the store itself.
    const forever = new RecordingStore(new MemorySessionStore(new ManualClock()));
    open.push(forever);
    const sessions = new SessionManager(forever, SETTINGS, clock);
    const { token, session } = await sessions.create(ALICE, SAML);
    clock.set(session.expiresAt);
    assert.equal(await sessions.open(token), undefined);
    assert.equal(forever.ops('delete').length, 1, 'the expired session is deleted');
    const idle = await sessions.create(ALICE, SAML);
    clock.advance(SETTINGS.idleTimeoutMs);
    assert.equal(await sessions.open(idle.token), undefined);
  });
});

describe('SessionManager: touch throttling', () => {
  it('does not write activity within a minute, and the session stays valid', async () => {
    const { sessions, clock, store } = setup();
    const { token, session } = await sessions.create(ALICE, SAML);
    for (const step of [1_000, 29_000, 29_999]) {
      clock.advance(step);
      assert.ok(await sessions.open(token));
    }
    assert.equal(store.ops('refresh').length, 0);
    assert.equal((await sessions.open(token))?.lastSeenAt, session.createdAt);
    clock.advance(1);
    assert.equal((await sessions.open(token))?.lastSeenAt, session.createdAt + MINUTE);
    assert.equal(store.ops('refresh').length, 1);
  });

  it('an unwritten activity does not move the idle deadline (cost bounded by the one-minute throttle)', async () => {
    const { sessions, clock } = setup();
    const { token } = await sessions.create(ALICE, SAML);
    clock.advance(30_000);
    assert.ok(await sessions.open(token));
    clock.advance(SETTINGS.idleTimeoutMs - 30_000);
    assert.equal(await sessions.open(token), undefined);
  });

  it('with an idle_timeout shorter than the throttle, activity still keeps the session alive', async () => {
    const { sessions, clock } = setup({ ...SETTINGS, idleTimeoutMs: 30_000 });
    const { token } = await sessions.create(ALICE, SAML);
    for (let i = 1; i <= 4; i++) {
      clock.advance(20_000);
      assert.ok(await sessions.open(token), `active every 20 s, yet ended after ${i * 20} s`);
    }
  });
});

describe('SessionManager.destroy', () => {
  it('a known session id with a forged key signs nobody out (forced logout from a listing or a dump)', async () => {
    const { sessions, store } = setup();
    const { token } = await sessions.create(ALICE, SAML);
    const [id] = token.split('.') as [string];
    await sessions.destroy(`${id}.${'A'.repeat(43)}`);
    assert.equal(store.ops('delete').length, 0);
    assert.ok(await sessions.open(token));
  });

  it('ends the session (logout)', async () => {
    const { sessions } = setup();
    const { token } = await sessions.create(ALICE, SAML);
    const other = await sessions.create(ALICE, SAML);
    await sessions.destroy(token);
    assert.equal(await sessions.open(token), undefined);
    assert.ok(await sessions.open(other.token), 'other sessions of the same user are kept');
  });

  it('ignores missing and malformed tokens without touching the store', async () => {
    const { sessions, store } = setup();
    await sessions.destroy(undefined);
    await sessions.destroy('');
    await sessions.destroy('not a token');
    assert.equal(store.calls.length, 0);
  });
});

describe('SessionManager: the store never holds the cookie', () => {
  it('the store sees only the id, never the key, and a dumped id does not work as a cookie (store dump replay)', async () => {
    const { sessions, store } = setup();
    const { token } = await sessions.create(ALICE, SAML);
    await sessions.open(token);
    const [id, key] = token.split('.') as [string, string];
    assert.deepEqual(new Set(store.calls.map((c) => c.id)), new Set([id]));
    for (const c of store.calls) assert.ok(!c.value?.includes(key), 'the key never reaches the store');
    assert.equal(await sessions.open(id), undefined, 'the store key is refused as a cookie');
  });

  it('a dumped value reveals no identity (no user, email, group or NameID in it)', async () => {
    const { sessions, store } = setup();
    await sessions.create(ALICE, SAML);
    const value = store.ops('create')[0]!.value!;
    const decoded = value.split(/[~.]/).map((p) => Buffer.from(p, 'base64url').toString('latin1')).join(' ');
    for (const secret of ['alice', 'example.com', 'ml-engineers', 'lab', '_idx1']) assert.ok(!value.includes(secret) && !decoded.includes(secret), secret);
  });

  it('a store writer cannot plant a session: a value sealed under another secret does not open (store write forgery)', async () => {
    const { sessions, store, clock } = setup();
    const attacker = new SessionManager(store, { ...SETTINGS, secrets: [ROTATED] }, clock);
    const planted = await attacker.create({ ...ALICE, groups: ['admins'] }, SAML);
    assert.equal(await sessions.open(planted.token), undefined);
  });

  it('a sealed value copied to another id does not open there (value swap)', async () => {
    const { sessions, store } = setup();
    const a = await sessions.create(ALICE, SAML);
    const b = await sessions.create({ ...ALICE, user: 'bob', email: 'bob@example.com' }, SAML);
    const [idA] = a.token.split('.') as [string];
    const [idB] = b.token.split('.') as [string];
    await store.inner.refresh(idA, (await store.inner.get(idB))!, MINUTE);
    assert.equal(await sessions.open(a.token), undefined);
    assert.equal(await sessions.open(`${idA}.${b.token.split('.')[1]}`), undefined);
  });

  it('rotating the secret ends every session, unless the old one is kept in previous_secrets', async () => {
    const { sessions, store, clock } = setup();
    const { token } = await sessions.create(ALICE, SAML);
    const rotated = new SessionManager(store, { ...SETTINGS, secrets: [ROTATED] }, clock);
    assert.equal(await rotated.open(token), undefined);
    const overlapping = new SessionManager(store, { ...SETTINGS, secrets: [ROTATED, SECRET] }, clock);
    assert.deepEqual((await overlapping.open(token))?.identity, ALICE);
    const fresh = await overlapping.create(ALICE, SAML);
    assert.ok(await rotated.open(fresh.token), 'new sessions are sealed under the new secret');
    assert.equal(await sessions.open(fresh.token), undefined, 'and the retired secret alone cannot open them');
  });

  it('CSRF tokens are bound to the session and the secret, and are not the session token', async () => {
    const { sessions, store, clock } = setup();
    const a = await sessions.create(ALICE, SAML);
    const b = await sessions.create(ALICE, SAML);
    const rotated = new SessionManager(store, { ...SETTINGS, secrets: [ROTATED] }, clock);
    assert.equal(sessions.csrfToken(a.token, 'logout'), sessions.csrfToken(a.token, 'logout'));
    assert.notEqual(sessions.csrfToken(a.token, 'logout'), sessions.csrfToken(b.token, 'logout'));
    assert.notEqual(sessions.csrfToken(a.token, 'logout'), rotated.csrfToken(a.token, 'logout'));
    assert.notEqual(sessions.csrfToken(a.token, 'logout'), a.token);
    assert.ok(sessions.keys.csrfValid(a.token, sessions.csrfToken(a.token, 'logout'), 'logout'));
    assert.ok(!sessions.keys.csrfValid(a.token, sessions.csrfToken(b.token, 'logout'), 'logout'), 'another session\'s token is refused');
    assert.ok(!rotated.keys.csrfValid(a.token, sessions.csrfToken(a.token, 'logout'), 'logout'), 'a rotated-out secret is refused unless kept');
    const overlapping = new SessionManager(store, { ...SETTINGS, secrets: [ROTATED, SECRET] }, clock);
    assert.ok(overlapping.keys.csrfValid(a.token, sessions.csrfToken(a.token, 'logout'), 'logout'), 'a form opened before the rotation still posts');
    assert.ok(!sessions.keys.csrfValid(a.token, sessions.csrfToken(a.token, 'logout'), 'cli-approve'), 'a token for one form does not post another (logout vs CLI approval)');
  });
});

describe('SessionManager: the in-process cache', () => {
  const CACHED: SessionSettings = { ...SETTINGS, cacheTtlMs: 5_000 };

  it('answers from the cache within its TTL, then asks the store again', async () => {
    const { sessions, store, clock } = setup(CACHED);
    const { token } = await sessions.create(ALICE, SAML);
    for (let i = 0; i < 5; i++) assert.ok(await sessions.open(token));
    assert.equal(store.ops('get').length, 0);
    clock.advance(5_000);
    assert.ok(await sessions.open(token));
    assert.equal(store.ops('get').length, 1);
  });

  it('concurrent requests of one session share one store read and one activity write (no stampede when the cache expires)', async () => {
    const { sessions, store, clock } = setup(CACHED);
    const { token } = await sessions.create(ALICE, SAML);
    clock.advance(MINUTE);
    const opened = await Promise.all(Array.from({ length: 20 }, () => sessions.open(token)));
    assert.ok(opened.every((s) => s?.identity.user === 'alice'));
    assert.equal(store.ops('get').length, 1);
    assert.equal(store.ops('refresh').length, 1);
  });

  it('an announced end evicts at once, whichever instance ended it (revocation reaches cached sessions)', async () => {
    const { sessions, store, clock } = setup(CACHED);
    const { token } = await sessions.create(ALICE, SAML);
    assert.ok(await sessions.open(token));
    // Another instance revokes: the store loses the session and the end is announced.
    const elsewhere = new SessionAdmin(store, new SessionManager(store, CACHED, clock).keys, clock);
    assert.equal((await elsewhere.revokeUser('ALICE@example.com')).revoked.length, 1);
    assert.equal(await sessions.open(token), undefined);
  });

  it('is not trusted while announcements may be missed (revocation while the subscriber is down)', async () => {
    const { sessions, store } = setup(CACHED);
    const { token } = await sessions.create(ALICE, SAML);
    assert.ok(await sessions.open(token));
    store.listening = false;
    const [id] = token.split('.') as [string];
    await store.inner.delete([id]); // ended without an announcement reaching us
    assert.equal(await sessions.open(token), undefined);
  });

  it('entries cached before announcements were lost are not trusted after (missed revocation)', async () => {
    const { sessions, store } = setup(CACHED);
    const { token } = await sessions.create(ALICE, SAML);
    assert.ok(await sessions.open(token));
    const [id] = token.split('.') as [string];
    await store.inner.delete([id]);
    for (const l of store.listeners) l('all'); // the subscriber reconnected: messages may be lost
    assert.equal(await sessions.open(token), undefined);
  });
});

describe('SessionManager: store outages', () => {
  it('fails closed with SESSION_STORE_UNAVAILABLE when the store cannot be asked', async () => {
    const { sessions, store } = setup();
    const { token } = await sessions.create(ALICE, SAML);
    store.down = true;
    await assert.rejects(sessions.open(token), { code: 'SESSION_STORE_UNAVAILABLE' });
    store.down = false;
    assert.ok(await sessions.open(token), 'recovers when the store returns');
  });

  it('with outage_grace, a cached session keeps working for that long after the first failed ask, then fails closed', async () => {
    const { sessions, store, clock } = setup({ ...SETTINGS, cacheTtlMs: 1_000, outageGraceMs: 30_000 });
    const { token } = await sessions.create(ALICE, SAML);
    const other = await sessions.create({ ...ALICE, user: 'bob' }, SAML);
    assert.ok(await sessions.open(token));
    store.down = true;
    store.listening = false;
    clock.advance(2_000);
    assert.ok(await sessions.open(token), 'served from the cache from the first failed ask on');
    clock.advance(29_999);
    assert.ok(await sessions.open(token), 'still within the grace');
    clock.advance(1);
    await assert.rejects(sessions.open(token), { code: 'SESSION_STORE_UNAVAILABLE' }, 'grace over');
    store.down = false;
    store.listening = true;
    assert.ok(await sessions.open(other.token));
  });

  it('the outage grace never serves an entry cached before announcements were last lost (a revocation missed earlier)', async () => {
    const { sessions, store, clock } = setup({ ...SETTINGS, cacheTtlMs: 1_000, outageGraceMs: 30_000 });
    const { token } = await sessions.create(ALICE, SAML);
    assert.ok(await sessions.open(token));
    for (const l of store.listeners) l('all'); // the subscriber reconnected: this entry may be stale
    store.down = true;
    store.listening = false;
    clock.advance(2_000);
    await assert.rejects(sessions.open(token), { code: 'SESSION_STORE_UNAVAILABLE' });
  });

  it('without outage_grace, even a freshly cached session fails closed once the cache must ask the store', async () => {
    const { sessions, store, clock } = setup({ ...SETTINGS, cacheTtlMs: 1_000 });
    const { token } = await sessions.create(ALICE, SAML);
    assert.ok(await sessions.open(token));
    store.down = true;
    clock.advance(1_000);
    await assert.rejects(sessions.open(token), { code: 'SESSION_STORE_UNAVAILABLE' });
  });
});

describe('SessionAdmin', () => {
  it('revoking a user ends every session, past one page of the index (mass logins before deprovisioning)', async () => {
    const { sessions, store, clock } = setup();
    const tokens: string[] = [];
    for (let i = 0; i < 10_050; i++) tokens.push((await sessions.create(ALICE, SAML)).token);
    const admin = new SessionAdmin(store, sessions.keys, clock);
    assert.equal((await admin.revokeUser('alice@example.com')).revoked.length, 10_050);
    assert.equal(await sessions.open(tokens.at(-1)), undefined, 'the newest too');
    assert.equal(await sessions.open(tokens[0]), undefined);
  });

  it('lists sessions with who and when (from the summary sealed under the secret), and revokes by id or user', async () => {
    const { sessions, store, clock } = setup();
    const a = await sessions.create(ALICE, SAML);
    const b = await sessions.create({ ...ALICE, user: 'bob', email: 'Bob@Example.com' }, SAML);
    const admin = new SessionAdmin(store, sessions.keys, clock);
    const all = await admin.list();
    assert.deepEqual(all.sessions.map((s) => s.user).sort(), ['alice', 'bob']);
    assert.equal(all.sessions.find((s) => s.user === 'bob')?.email, 'Bob@Example.com');
    assert.deepEqual((await admin.list('bob@example.com')).sessions.map((s) => s.user), ['bob'], 'email in any case');
    const [idA] = a.token.split('.') as [string];
    assert.deepEqual((await admin.revokeId(idA)).revoked, [idA]);
    assert.equal(await sessions.open(a.token), undefined);
    assert.equal((await admin.revokeUser('BOB@example.com')).revoked.length, 1);
    assert.equal(await sessions.open(b.token), undefined);
    assert.deepEqual((await admin.list()).sessions, []);
    assert.deepEqual((await admin.revokeId('not-an-id')).revoked, []);
  });
});
