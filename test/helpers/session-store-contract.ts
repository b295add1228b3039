import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SessionStore } from '../../proxy/session/types.js';

/** A session store under test, a way to let time pass for it, and the current time it uses. */
export interface SessionStoreUnderTest {
  store: SessionStore;
  elapse(ms: number): Promise<void>;
  now(): number;
  close(): Promise<void>;
}

let n = 0;
/** Ids of the shape the manager makes (22 base64url characters), unique per run. */
const id = () => `id${(++n).toString().padStart(6, '0')}${Math.random().toString(36).slice(2, 16).padEnd(14, 'x')}`.slice(0, 22);

/**
 * The SessionStore contract: memory and Redis must behave the same for everything the manager
 * and the admin rely on. `ttl` is the entry lifetime the tests use: exact for a manual clock,
 * generous for a real one.
 */
export function sessionStoreContract(name: string, make: () => Promise<SessionStoreUnderTest>, ttl: number): void {
  describe(`SessionStore contract: ${name}`, () => {
    test('create, get, delete (unknown ids ignored)', async () => {
      const t = await make();
      const a = id();
      await t.store.create(a, 'sealed-a', ttl, t.now() + 10 * ttl, []);
      assert.equal(await t.store.get(a), 'sealed-a');
      await t.store.delete([a, id()]);
      assert.equal(await t.store.get(a), undefined);
      await t.close();
    });

    test('a session expires with its TTL (idle or absolute end, whichever is first)', async () => {
      const t = await make();
      const a = id();
      await t.store.create(a, 'v', ttl, t.now() + 10 * ttl, []);
      await t.elapse(ttl / 2);
      assert.equal(await t.store.get(a), 'v');
      await t.elapse(ttl);
      assert.equal(await t.store.get(a), undefined);
      await t.close();
    });

    test('refresh moves the expiry and replaces the value, but never brings back an ended session (refresh racing a revocation)', async () => {
      const t = await make();
      const a = id();
      await t.store.create(a, 'v1', ttl, t.now() + 10 * ttl, []);
      await t.elapse(ttl / 2);
      assert.equal(await t.store.refresh(a, 'v2', ttl), true);
      await t.elapse(ttl * 0.75);
      assert.equal(await t.store.get(a), 'v2', 'alive past the first TTL thanks to the refresh');
      await t.store.delete([a]);
      assert.equal(await t.store.refresh(a, 'v3', ttl), false);
      assert.equal(await t.store.get(a), undefined);
      await t.close();
    });

    test('indexes: every session, and per user key; getMany keeps order and reports missing ids', async () => {
      const t = await make();
      const [a, b, c] = [id(), id(), id()];
      const end = t.now() + 10 * ttl;
      await t.store.create(a, 'va', ttl, end, ['alice']);
      await t.store.create(b, 'vb', ttl, end, ['alice', 'alias']);
      await t.store.create(c, 'vc', ttl, end, ['bob']);
      assert.deepEqual(new Set(await t.store.indexed('alice', 100)), new Set([a, b]));
      assert.deepEqual(await t.store.indexed('alias', 100), [b]);
      assert.deepEqual(await t.store.indexed('nobody', 100), []);
      const all = await t.store.indexed(undefined, 100);
      for (const x of [a, b, c]) assert.ok(all.includes(x));
      assert.equal((await t.store.indexed(undefined, 2)).length, 2, 'limit honoured');
      assert.deepEqual(await t.store.getMany([c, id(), a]), ['vc', undefined, 'va']);
      await t.store.delete([a, b, c]);
      assert.deepEqual(await t.store.getMany([a, b, c]), [undefined, undefined, undefined]);
      await t.close();
    });

    test('index entries past their absolute end are pruned', async () => {
      const t = await make();
      const a = id();
      await t.store.create(a, 'va', ttl * 10, t.now() + ttl, ['carol']);
      assert.deepEqual(await t.store.indexed('carol', 10), [a]);
      await t.elapse(ttl * 1.5);
      assert.deepEqual(await t.store.indexed('carol', 10), []);
      await t.close();
    });

    test('an announced end reaches this instance\'s listeners', async () => {
      const t = await make();
      const heard: Array<readonly string[] | 'all'> = [];
      t.store.onEnded((ids) => heard.push(ids));
      await t.store.announceEnded(['x1', 'x2']);
      assert.deepEqual(heard[0], ['x1', 'x2']);
      assert.equal(t.store.health().status, 'ready');
      assert.equal(t.store.health().listening, true);
      await t.close();
    });
  });
}
