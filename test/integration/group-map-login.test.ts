/**
 * group_map and the groups-seen record through a running Gatehouse: a login whose assertion
 * carries an Entra-style object ID gets the mapped policy name in its session (unmapped groups
 * dropped), and the mapped name is what the groups-seen file records when Gatehouse stops.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readGroupsSeenFile } from '../../proxy/store/groups-seen-file.js';
import { jarFetch } from '../helpers/cookie-jar.js';
import { demoLogin } from '../helpers/demo-login.js';
import { startGatehouse } from '../helpers/gatehouse.js';

const ML_ID = '8d0f4c6e-3b1a-4f7e-9a2d-5c6b7e8f9a01';

test('a mapped login holds the policy name, is allowed, and the record keeps the mapped name', async () => {
  const gh = await startGatehouse({
    config: { demo: true, saml: { groups_seen_file: 'state-seen.json' } },
    connections: [
      {
        id: 'demo',
        demo_idp: { users: [{ name: 'alice', email: 'alice@example.com', groups: [ML_ID, 'Everyone'] }] },
        group_map: { [ML_ID]: 'ml-engineers' },
        unmapped_groups: 'drop',
      },
    ],
    routes: [{ name: 'app', path: '/', upstream: 'http://127.0.0.1:9', allow: [{ groups: ['ml-engineers'] }] }],
  });
  try {
    const jar = await demoLogin(gh.url, 'alice');
    const info = (await (await jarFetch(jar, `${gh.url}/.gatehouse/userinfo`)).json()) as { groups: string[] };
    assert.deepEqual(info.groups, ['ml-engineers']);
    const res = await jarFetch(jar, `${gh.url}/anything`, { headers: { accept: 'application/json' } });
    await res.arrayBuffer();
    assert.notEqual(res.status, 403, 'the policy names ml-engineers and allows the mapped group');
    const decisions = gh.logs.find((l) => l.event === 'decision');
    assert.equal(decisions.at(-1)?.decision, 'allow', gh.logs.text());
    await gh.app.stop();
    const record = readGroupsSeenFile(join(gh.dir, 'state-seen.json'));
    assert.equal(record.logins, 1);
    assert.deepEqual(Object.keys(record.groups), ['ml-engineers']);
    assert.deepEqual(record.groups['ml-engineers']?.connections, ['demo']);
  } finally {
    rmSync(gh.dir, { recursive: true, force: true });
  }
});
