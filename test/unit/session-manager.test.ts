/**
 * Sessions: a fresh random token per login (no fixation), the store keyed by HMAC(secret, token)
 * (a store dump yields no cookie; rotating the secret ends every session), idle and absolute
 * lifetimes enforced on the injected clock, and activity written back at most once a minute.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../proxy/clock.js';
import type { Identity } from '../../proxy/policy/types.js';
import { MemorySessionStore } from '../../proxy/session/memory-store.js';
import { SessionManager, type SessionSettings } from '../../proxy/session/session-manager.js';
import type { Session, SessionStore } from '../../proxy/session/types.js';

const MINUTE = 60_000;
const SETTINGS: SessionSettings = { secret: 'test-only-4f9c1e7a2b8d6350a1c9e2f7b4d8a6c3', idleTimeoutMs: 30 * MINUTE, maxLifetimeMs: 12 * 60 * MINUTE };
const ALICE: Identity = { user: 'alice', email: 'alice@example.com', groups: ['ml-engineers'], connection: 'lab' };
const SAML = { nameId: 'alice@example.com', sessionIndex: '_idx1' };

/** A store that records every call, wrapping the real memory store. */
class RecordingStore implements SessionStore {
  readonly calls: Array<{ op: string; key: string; lastSeenAt?: number; ttlMs?: number }> = [];
  constructor(readonly inner: SessionStore) {}
  async get(key: string) {
    this.calls.push({ op: 'get', key });
    return this.inner.get(key);
  }
  async set(key: string, session: Session, ttlMs: number) {
    this.calls.push({ op: 'set', key, ttlMs });
    return this.inner.set(key, session, ttlMs);
  }
  async touch(key: string, lastSeenAt: number, ttlMs: number) {
    this.calls.push({ op: 'touch', key, lastSeenAt, ttlMs });
    return this.inner.touch(key, lastSeenAt, ttlMs);
  }
  async delete(key: string) {
    this.calls.push({ op: 'delete', key });
    return this.inner.delete(key);
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
    for (const t of tokens) assert.match(t, /^[A-Za-z0-9_-]{43}$/);
  });

  it('records creation, activity and the absolute end', async () => {
    const { sessions, clock, store } = setup();
    const { session } = await sessions.create(ALICE, SAML);
    assert.deepEqual(session, { identity: ALICE, createdAt: clock.now(), lastSeenAt: clock.now(), expiresAt: clock.now() + SETTINGS.maxLifetimeMs, saml: SAML });
    assert.deepEqual(store.ops('set').map((c) => c.ttlMs), [SETTINGS.idleTimeoutMs]);
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
    ['one character too long', 'a'.repeat(44)],
    ['one character too short', 'a'.repeat(42)],
    ['base64 padding', `${'a'.repeat(42)}=`],
    ['non-base64url characters', `${'a'.repeat(42)}+`],
    ['injection attempt', `${'a'.repeat(40)}' OR`],
    ['non-ASCII', `${'a'.repeat(42)}ü`],
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
    assert.equal(await sessions.open('A'.repeat(43)), undefined);
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

  it('keeps an active session past idle_timeout, and writes the activity back', async () => {
    const { sessions, clock, store } = setup();
    const { token } = await sessions.create(ALICE, SAML);
    for (let i = 0; i < 4; i++) {
      clock.advance(20 * MINUTE);
      assert.ok(await sessions.open(token), `alive after ${(i + 1) * 20} minutes of activity`);
    }
    assert.equal(store.ops('touch').length, 4);
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
      assert.equal(store.ops('touch').at(-1)?.ttlMs, Math.min(SETTINGS.idleTimeoutMs, left), `${left} ms left`);
    }
    clock.set(near);
    assert.ok(await sessions.open(token));
    assert.equal(store.ops('touch').at(-1)?.ttlMs, 10 * MINUTE, 'near the end: only what is left');
  });

  it('enforces max_lifetime against a store that keeps entries forever', async () => {
    const clock = new ManualClock();
    const forever = new Map<string, Session>();
    const store: SessionStore = {
      get: async (k) => forever.get(k),
      set: async (k, s) => void forever.set(k, s),
      touch: async (k, at) => void (forever.get(k)!.lastSeenAt = at),
      delete: async (k) => void forever.delete(k),
      close: async () => {},
    };
    const sessions = new SessionManager(store, SETTINGS, clock);
    const { token, session } = await sessions.create(ALICE, SAML);
    clock.set(session.expiresAt);
    assert.equal(await sessions.open(token), undefined);
    assert.equal(forever.size, 0, 'the expired session is deleted');
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
    assert.equal(store.ops('touch').length, 0);
    assert.equal((await sessions.open(token))?.lastSeenAt, session.createdAt);
    clock.advance(1);
    assert.ok(await sessions.open(token));
    assert.deepEqual(store.ops('touch').map((c) => c.lastSeenAt), [session.createdAt + MINUTE]);
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
  it('store keys are not the token, and a dumped key does not work as a cookie (store dump replay)', async () => {
    const { sessions, store } = setup();
    const { token } = await sessions.create(ALICE, SAML);
    await sessions.open(token);
    const keys = new Set(store.calls.map((c) => c.key));
    assert.equal(keys.size, 1, 'one key per session');
    const [key] = keys;
    assert.ok(key);
    assert.notEqual(key, token);
    assert.ok(!key.includes(token) && !token.includes(key));
    assert.equal(await sessions.open(key), undefined, 'the store key is refused as a cookie');
  });

  it('rotating the secret ends every session (and an old manager still opens its own)', async () => {
    const { sessions, store, clock } = setup();
    const { token } = await sessions.create(ALICE, SAML);
    const rotated = new SessionManager(store, { ...SETTINGS, secret: 'test-only-rotated-9b1d7c3e5a2f4068e1d3c5b7a9f0e2d4' }, clock);
    assert.equal(await rotated.open(token), undefined);
    assert.ok(await sessions.open(token));
  });

  it('CSRF tokens are bound to the session and the secret, and are not the session token', async () => {
    const { sessions, store, clock } = setup();
    const a = await sessions.create(ALICE, SAML);
    const b = await sessions.create(ALICE, SAML);
    const rotated = new SessionManager(store, { ...SETTINGS, secret: 'test-only-rotated-9b1d7c3e5a2f4068e1d3c5b7a9f0e2d4' }, clock);
    assert.equal(sessions.csrfToken(a.token), sessions.csrfToken(a.token));
    assert.notEqual(sessions.csrfToken(a.token), sessions.csrfToken(b.token));
    assert.notEqual(sessions.csrfToken(a.token), rotated.csrfToken(a.token));
    assert.notEqual(sessions.csrfToken(a.token), a.token);
    assert.ok(!store.calls.some((c) => c.key === sessions.csrfToken(a.token)), 'the CSRF token is not a store key');
  });
});
