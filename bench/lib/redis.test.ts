import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandDelta, parseCommandStats } from './redis.js';

const BEFORE = `# Commandstats
cmdstat_get:calls=10,usec=20,usec_per_call=2.00,rejected_calls=0,failed_calls=0
cmdstat_info:calls=3,usec=90,usec_per_call=30.00,rejected_calls=0,failed_calls=0
cmdstat_client|setname:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0
`;

test('parseCommandStats: calls per command, sub-commands kept', () => {
  assert.deepEqual(parseCommandStats(BEFORE), { get: 10, info: 3, 'client|setname': 1 });
  assert.deepEqual(parseCommandStats('# Commandstats\r\n'), {});
});

test('commandDelta: new calls per command and total, the probe’s own commands left out', () => {
  const after = parseCommandStats(
    `${BEFORE.replace('get:calls=10', 'get:calls=1010').replace('info:calls=3', 'info:calls=5')}cmdstat_set:calls=2,usec=4\ncmdstat_keys:calls=1,usec=4\n`,
  );
  assert.deepEqual(commandDelta(parseCommandStats(BEFORE), after), { get: 1000, set: 2, total: 1002 });
  assert.deepEqual(commandDelta(after, after), { total: 0 });
});
