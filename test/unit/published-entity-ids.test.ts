/**
 * A connection's SP entity ID must not change once published: a start with another one logs
 * SP_ENTITY_ID_CHANGED once, naming the published value, and never blocks startup.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../proxy/clock.js';
import { checkPublishedEntityIds } from '../../proxy/saml/published-entity-ids.js';
import { MemoryStateStore, type StateStore } from '../../proxy/store/state-store.js';
import { captureLogs } from '../helpers/log-capture.js';

const OLD = 'https://gatehouse.example.com/.gatehouse/saml/lab/metadata';
const NEW = 'https://gh.example.com/.gatehouse/saml/lab/metadata';

describe('published SP entity IDs', () => {
  test('first start records; the same entity ID again is silent', async () => {
    const records = new MemoryStateStore(new ManualClock());
    const logs = captureLogs();
    assert.deepEqual(await checkPublishedEntityIds(records, [{ connection: 'lab', entityId: OLD }], logs.log), []);
    assert.deepEqual(await checkPublishedEntityIds(records, [{ connection: 'lab', entityId: OLD }], logs.log), []);
    assert.equal(logs.lines.length, 0);
  });

  test('a changed public_url (IdPs would refuse every login) is logged once with the way back, then remembered', async () => {
    const records = new MemoryStateStore(new ManualClock());
    const logs = captureLogs();
    await checkPublishedEntityIds(records, [{ connection: 'lab', entityId: OLD }, { connection: 'other', entityId: 'urn:other' }], logs.log);
    const changes = await checkPublishedEntityIds(records, [{ connection: 'lab', entityId: NEW }, { connection: 'other', entityId: 'urn:other' }], logs.log);
    assert.deepEqual(changes, [{ connection: 'lab', published: OLD, now: NEW }]);
    const lines = logs.find((l) => l.code === 'SP_ENTITY_ID_CHANGED');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.level, 'error');
    assert.equal(lines[0]!.published, OLD);
    assert.match(String(lines[0]!.msg), new RegExp(`entity_id: "${OLD}"`));
    assert.deepEqual(await checkPublishedEntityIds(records, [{ connection: 'lab', entityId: NEW }], logs.log), [], 'written once per change');
  });

  test('an unreachable store never stops startup: one warning per connection, no change reported', async () => {
    const broken: StateStore = {
      put: () => Promise.reject(new Error('down')),
      putIfAbsent: () => Promise.reject(new Error('down')),
      get: () => Promise.reject(new Error('down')),
      take: () => Promise.reject(new Error('down')),
      delete: () => Promise.reject(new Error('down')),
      close: () => Promise.resolve(),
    };
    const logs = captureLogs();
    assert.deepEqual(await checkPublishedEntityIds(broken, [{ connection: 'lab', entityId: OLD }], logs.log), []);
    assert.equal(logs.find((l) => l.level === 'warn').length, 1);
  });
});
