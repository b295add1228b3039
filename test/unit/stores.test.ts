import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../proxy/clock.js';
import { ReplayCache } from '../../proxy/saml/replay-cache.js';
import { MemoryStateStore, type StateStore } from '../../proxy/store/state-store.js';

/** The StateStore contract: every implementation (memory now, Redis later) must pass it. */
function contract(name: string, make: (clock: ManualClock) => StateStore): void {
  describe(`StateStore contract: ${name}`, () => {
    test('put, get, delete', async () => {
      const s = make(new ManualClock());
      await s.put('k', 'v', 1000);
      assert.equal(await s.get('k'), 'v');
      await s.delete('k');
      assert.equal(await s.get('k'), undefined);
      await s.close();
    });

    test('entries expire', async () => {
      const clock = new ManualClock();
      const s = make(clock);
      await s.put('k', 'v', 1000);
      clock.advance(999);
      assert.equal(await s.get('k'), 'v');
      clock.advance(1);
      assert.equal(await s.get('k'), undefined);
      await s.close();
    });

    test('putIfAbsent is one-time-use until expiry', async () => {
      const clock = new ManualClock();
      const s = make(clock);
      assert.equal(await s.putIfAbsent('id', '1', 1000), true);
      assert.equal(await s.putIfAbsent('id', '1', 1000), false);
      clock.advance(1000);
      assert.equal(await s.putIfAbsent('id', '1', 1000), true);
      await s.close();
    });

    test('take consumes at most once', async () => {
      const s = make(new ManualClock());
      await s.put('k', 'v', 1000);
      const [a, b] = await Promise.all([s.take('k'), s.take('k')]);
      assert.deepEqual([a, b].sort(), ['v', undefined].sort());
      await s.close();
    });
  });
}

contract('memory', (clock) => new MemoryStateStore(clock));

describe('bounded memory', () => {
  test('login flood: an evict-oldest store stays bounded', async () => {
    const s = new MemoryStateStore(new ManualClock(), 100, 'evict-oldest');
    for (let i = 0; i < 1000; i++) await s.put(`relay:${i}`, 'x', 60_000);
    assert.equal(await s.get('relay:0'), undefined);
    assert.equal(await s.get('relay:999'), 'x');
    await s.close();
  });

  test('replay after a flood: a full replay cache refuses new assertions instead of forgetting old ones', async () => {
    const clock = new ManualClock();
    const replay = new ReplayCache(new MemoryStateStore(clock, 10, 'refuse'), clock);
    assert.equal(await replay.claim('idp', 'victim-assertion', clock.now() + 300_000), 'claimed');
    for (let i = 0; i < 20; i++) await replay.claim('idp', `flood-${i}`, clock.now() + 300_000);
    assert.equal(await replay.claim('idp', 'victim-assertion', clock.now() + 300_000), 'replayed', 'still remembered');
    assert.equal(await replay.claim('idp', 'new-one', clock.now() + 300_000), 'full', 'refused, not evicting');
    clock.advance(301_000);
    assert.equal(await replay.claim('idp', 'new-one', clock.now() + 300_000), 'claimed', 'room again once entries expire');
  });
});
