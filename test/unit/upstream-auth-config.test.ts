/** `upstream_auth` in policy files: exactly one kind, secrets by reference only, never on a public route. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Writable } from 'node:stream';
import { runCheck } from '../../proxy/cli/check.js';
import { configProblems } from '../helpers/config-problems.js';

const SECRET = 'test-only-4f9c1e7a2b8d6350a1c9e2f7b4d8a6c3';
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function write(upstreamAuth: string, allow = '[ { authenticated: true } ]'): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ua-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'r.yaml'), `routes:\n  - name: app\n    path: /\n    upstream: "http://127.0.0.1:9"\n    allow: ${allow}\n    upstream_auth: ${upstreamAuth}\n`);
  writeFileSync(join(dir, 'gatehouse.yaml'), `server:\n  public_url: http://127.0.0.1:4180\nsession:\n  secret: \${SECRET}\nsaml:\n  connections:\n    - id: lab\n      idp_metadata_url: https://idp.example.com/metadata\npolicies: ["policies/*.yaml"]\n`);
  return join(dir, 'gatehouse.yaml');
}

describe('route upstream_auth', () => {
  test('each kind by reference loads (control)', () => {
    for (const yaml of ['{ bearer: { env: DB_TOKEN } }', '{ basic: { username: svc, password: { file: pw.txt } } }', '{ header: { name: X-Api-Key, value: { env: KEY } } }']) {
      assert.deepEqual(configProblems(write(yaml), { SECRET }), [], yaml);
    }
  });

  test('gatehouse check reports a secret it cannot read, at the route, as serve would refuse it', async () => {
    delete process.env.GH_CHECK_MISSING_TOKEN;
    let err = '';
    const sink = (write: (s: string) => void) => new Writable({ write: (c: Buffer, _e, cb) => { write(c.toString()); cb(); } });
    const prior = process.env.SECRET;
    process.env.SECRET = SECRET;
    try {
      const code = await runCheck(write('{ bearer: { env: GH_CHECK_MISSING_TOKEN } }'), sink(() => {}), sink((s) => (err += s)), { offline: true });
      assert.equal(code, 1, err);
      assert.match(err, /route app\.upstream_auth: bearer: environment variable GH_CHECK_MISSING_TOKEN is not set/);
    } finally {
      if (prior === undefined) delete process.env.SECRET;
      else process.env.SECRET = prior;
    }
  });

  for (const [name, yaml, allow, message] of [
    ['two kinds at once', '{ bearer: { env: A }, header: { name: X-K, value: { env: B } } }', undefined, /exactly one of bearer, basic, header/],
    ['an inline secret (only env or file)', '{ bearer: "dapi-123" }', undefined, /object|expected/i],
    ['both env and file', '{ bearer: { env: A, file: b } }', undefined, /exactly one of env, file/],
    ['a colon in the basic user name', '{ basic: { username: "a:b", password: { env: P } } }', undefined, /no colon/],
    ['credential theft through a public route', '{ bearer: { env: A } }', '[ { public: true } ]', /public.*credentials to anyone/],
  ] as const) {
    test(`refused: ${name}`, () => {
      const found = configProblems(write(yaml, allow), { SECRET });
      assert.ok(found.some((p) => p.key.startsWith('routes[0].upstream_auth') && message.test(p.message)), JSON.stringify(found));
    });
  }
});
