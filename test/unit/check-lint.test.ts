/**
 * The group-name lint of `gatehouse check`: every group a policy names (in any rule form, at any
 * depth, and in forward_groups) that no assertion has carried is a warning with file:line and
 * key, suggesting close matches, since a mismatched name silently grants nobody; group_map
 * targets no policy names are warned about too. Warnings fail the check only with --strict.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCheck } from '../../proxy/cli/check.js';
import { ManualClock } from '../../proxy/clock.js';
import { GroupsSeenSet } from '../../proxy/policy/groups-seen.js';

const SECRET = 'test-only-7c2e9a4b1d8f6035e2a7c9b4d1f8e6a3';
const ML_ID = '8d0f4c6e-3b1a-4f7e-9a2d-5c6b7e8f9a01';
const DS_ID = '1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b';

const POLICY = `# test policy
routes:
  - name: app
    host: app.example.com
    upstream: http://127.0.0.1:9
    allow:
      - { groups: [ml-engineers] }
      - groups: [ml-engineer]
      - and:
          - groups: { all: [Data-Scientists] }
          - not: { groups: { any: [contractors] } }
      - or:
          - groups:
              - ml-engneers
              - ml-engineers
    forward_groups: [ml-engineers, platform]
`;

const config = (seenFile: string | undefined, map: boolean) => `server:
  public_url: http://127.0.0.1:4180
session:
  secret: \${GATEHOUSE_SESSION_SECRET}
saml:
${seenFile ? `  groups_seen_file: ${seenFile}\n` : '  # no groups_seen_file\n'}  connections:
    - id: entra
      idp_metadata_url: http://127.0.0.1:9/md
${map ? `      group_map:\n        "${ML_ID}": ml-engineers\n        "${DS_ID}": [data-scientists, ml-engineerz]\n` : ''}policies:
  - policies/*.yaml
`;

const root = mkdtempSync(join(tmpdir(), 'gatehouse-check-lint-'));
after(() => rmSync(root, { recursive: true, force: true }));
let count = 0;

/** A config dir: gatehouse.yaml, policies/app.yaml and (when `seen` is given) state/seen.json. */
function setup(seen: string[] | undefined, withFile = true, map = true): { dir: string; file: string; shown: (p: string) => string } {
  const dir = join(root, String(++count));
  mkdirSync(join(dir, 'policies'), { recursive: true });
  mkdirSync(join(dir, 'state'));
  writeFileSync(join(dir, 'gatehouse.yaml'), config(withFile ? 'state/seen.json' : undefined, map));
  writeFileSync(join(dir, 'policies', 'app.yaml'), POLICY);
  if (seen) {
    const clock = new ManualClock(Date.UTC(2026, 10, 1));
    const record = new GroupsSeenSet(clock);
    for (let i = 0; i < 1234; i++) record.record({ groups: seen, connection: 'entra' });
    writeFileSync(join(dir, 'state', 'seen.json'), JSON.stringify(record.snapshot()));
  }
  const shown = (p: string) => {
    const rel = relative(process.cwd(), join(dir, p));
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : join(dir, p);
  };
  return { dir, file: join(dir, 'gatehouse.yaml'), shown };
}

async function check(file: string, strict = false): Promise<{ code: number; out: string; err: string }> {
  const chunks = { out: [] as string[], err: [] as string[] };
  const sink = (to: string[]) => ({ write: (c: string) => (to.push(String(c)), true) }) as unknown as NodeJS.WritableStream;
  const saved = process.env.GATEHOUSE_SESSION_SECRET;
  process.env.GATEHOUSE_SESSION_SECRET = SECRET;
  try {
    const code = await runCheck(file, sink(chunks.out), sink(chunks.err), { strict, offline: true });
    return { code, out: chunks.out.join(''), err: chunks.err.join('') };
  } finally {
    if (saved === undefined) delete process.env.GATEHOUSE_SESSION_SECRET;
    else process.env.GATEHOUSE_SESSION_SECRET = saved;
  }
}

const SEEN = ['ml-engineers', 'data-scientists', 'admins', 'Everyone'];

describe('gatehouse check: group names no assertion has carried', () => {
  test('each unseen name is a warning at its file:line and key, with close matches; exit stays 0', async () => {
    const s = setup(SEEN);
    const r = await check(s.file);
    assert.equal(r.code, 0, r.err);
    const p = s.shown('policies/app.yaml');
    const since = '(1234 login(s) since 2026-11-01';
    const expected = [
      `${p}:8 routes[0].allow[1].groups: warning: group "ml-engineer" is named here but no assertion has carried it ${since}, seen: ml-engineers)`,
      `${p}:10 routes[0].allow[2].and[0].groups.all: warning: group "Data-Scientists" is named here but no assertion has carried it ${since}, seen: data-scientists)`,
      `${p}:11 routes[0].allow[2].and[1].not.groups.any: warning: group "contractors" is named here but no assertion has carried it ${since}; no close match among the 4 name(s) seen)`,
      `${p}:14 routes[0].allow[3].or[0].groups: warning: group "ml-engneers" is named here but no assertion has carried it ${since}, seen: ml-engineers)`,
      `${p}:16 routes[0].forward_groups: warning: group "platform" is named here but no assertion has carried it ${since}; no close match among the 4 name(s) seen)`,
      // Targets no policy names: a case slip and a typo, each with the policy names it resembles.
      `${s.shown('gatehouse.yaml')}:12 saml.connections[0].group_map.${DS_ID}: warning: group_map turns "${DS_ID}" into "data-scientists", which no policy names (a typo?; close: Data-Scientists)`,
      `${s.shown('gatehouse.yaml')}:12 saml.connections[0].group_map.${DS_ID}: warning: group_map turns "${DS_ID}" into "ml-engineerz", which no policy names (a typo?; close: ml-engineer, ml-engineers, ml-engneers)`,
    ];
    assert.deepEqual(r.err.trimEnd().split('\n'), expected);
    assert.match(r.out, /^ok: .*gatehouse\.yaml: 1 connection\(s\), 1 policy file\(s\), 1 route\(s\), 7 warning\(s\)\n$/);
  });

  test('--strict turns warnings into exit 1', async () => {
    const s = setup(SEEN);
    const r = await check(s.file, true);
    assert.equal(r.code, 1);
    assert.match(r.err, /\n7 warning\(s\) found \(--strict\)\n$/);
    assert.equal(r.out, '');
  });

  test('names every assertion carried give no warning (and --strict passes)', async () => {
    const s = setup([...SEEN, 'ml-engineer', 'Data-Scientists', 'contractors', 'ml-engneers', 'platform'], true, false);
    const r = await check(s.file, true);
    assert.equal(r.err, '');
    assert.equal(r.code, 0);
  });

  test('without saml.groups_seen_file the lint says in one info line it was skipped, and why', async () => {
    const s = setup(undefined, false);
    const r = await check(s.file, true);
    const info = r.out.split('\n').filter((l) => l.startsWith('info: '));
    assert.deepEqual(info, ['info: group-name lint skipped: saml.groups_seen_file is not set, so there is no record of the group names assertions carry']);
    // Only the group_map warning remains; it needs no record.
    assert.equal(r.code, 1);
    assert.match(r.err, /group_map turns .* "ml-engineerz"/);
  });

  test('a configured file that is missing or corrupt skips the lint with a reason, never fails the check', async () => {
    const missing = setup(undefined);
    assert.match((await check(missing.file)).out, /^info: group-name lint skipped: saml\.groups_seen_file .*seen\.json: ENOENT/m);
    const corrupt = setup(undefined);
    writeFileSync(join(corrupt.dir, 'state', 'seen.json'), '{"version":1,');
    const r = await check(corrupt.file);
    assert.equal(r.code, 0);
    assert.match(r.out, /^info: group-name lint skipped: .*seen\.json: /m);
  });

  test('the CLI takes --strict for check', async () => {
    const s = setup(SEEN);
    const run = (...extra: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'proxy/main.ts', 'check', '--offline', '--config', s.file, ...extra], {
        env: { ...process.env, GATEHOUSE_SESSION_SECRET: SECRET },
        encoding: 'utf8',
      });
    const lenient = run();
    assert.equal(lenient.status, 0, lenient.stderr);
    assert.match(lenient.stderr, /warning: group "ml-engineer" is named here/);
    const strict = run('--strict');
    assert.equal(strict.status, 1, strict.stderr);
    assert.match(strict.stderr, /7 warning\(s\) found \(--strict\)/);
  });
});
