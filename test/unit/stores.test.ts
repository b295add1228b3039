import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../proxy/clock.js';
import { ReplayCache } from '../../proxy/saml/replay-cache.js';
import { MemoryStateStore } from '../../proxy/store/state-store.js';
import { contract } from '../helpers/state-store-contract.js';
import { sessionStoreContract } from '../helpers/session-store-contract.js';
import { MemorySessionStore } from '../../proxy/session/memory-store.js';

sessionStoreContract(
  'memory',
  async () => {
    const clock = new ManualClock();
    const store = new MemorySessionStore(clock);
    return { store, elapse: async (ms) => clock.advance(ms), now: () => clock.now(), close: () => store.close() };
  },
  1_000,
);

contract('memory', async () => {
  const clock = new ManualClock();
  return { store: new MemoryStateStore(clock), elapse: async (ms) => clock.advance(ms) };
}, 1000);

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
