import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StateStore } from '../../proxy/store/state-store.js';

/** A store under test and a way to let time pass for it. */
export interface StoreUnderTest {
  store: StateStore;
  elapse(ms: number): Promise<void>;
}

/**
 * The StateStore contract: every implementation (memory, Redis) must pass it. `ttl` is the
 * entry lifetime the tests use: exact for a manual clock, generous for a real one.
 */
export function contract(name: string, make: () => Promise<StoreUnderTest>, ttl: number): void {
  describe(`StateStore contract: ${name}`, () => {
    test('put, get, delete', async () => {
      const { store: s } = await make();
      await s.put('k', 'v', ttl);
      assert.equal(await s.get('k'), 'v');
      await s.delete('k');
      assert.equal(await s.get('k'), undefined);
      await s.close();
    });

    test('entries expire', async () => {
      const { store: s, elapse } = await make();
      await s.put('k', 'v', ttl);
      await elapse(ttl / 2);
      assert.equal(await s.get('k'), 'v');
      await elapse(ttl / 2 + ttl / 4);
      assert.equal(await s.get('k'), undefined);
      await s.close();
    });

    test('putIfAbsent is one-time-use until expiry', async () => {
      const { store: s, elapse } = await make();
      assert.equal(await s.putIfAbsent('id', '1', ttl), true);
      assert.equal(await s.putIfAbsent('id', '1', ttl), false);
      await elapse(ttl + ttl / 4);
      assert.equal(await s.putIfAbsent('id', '1', ttl), true);
      await s.close();
    });

    test('take consumes at most once, even when two ask at the same time', async () => {
      const { store: s } = await make();
      await s.put('k', 'v', ttl);
      const [a, b] = await Promise.all([s.take('k'), s.take('k')]);
      assert.deepEqual([a, b].sort(), ['v', undefined].sort());
      await s.close();
    });

    test('values are kept byte for byte (unicode, separators)', async () => {
      const { store: s } = await make();
      const value = JSON.stringify({ user: 'Ünïcode, grüppe', nonce: 'a:b;c' });
      await s.put('k:1', value, ttl);
      assert.equal(await s.take('k:1'), value);
      await s.close();
    });
  });
}
