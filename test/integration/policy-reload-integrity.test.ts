/**
 * What a policy reload applies: only files that have stopped changing (a writer that pauses
 * mid-file is not read as done, a file rewritten while it is loaded is loaded again), and the
 * watcher keeps working after the directory holding them is replaced by a rename (the watch
 * follows the new directory, not the old one).
 */
import assert from 'node:assert/strict';
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { loadConfig } from '../../proxy/config/load.js';
import { Gatehouse } from '../../proxy/server/app.js';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { freePort } from '../helpers/free-port.js';
import { idpMetadataXml, TEST_SECRET } from '../helpers/gatehouse.js';
import { captureLogs } from '../helpers/log-capture.js';
import { signIn, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

let app: Gatehouse;
let url: string;
let dir: string;
let upstream: TestUpstream;
let dana: CookieJar;
/** Runs once when the loader next reads `${GH_UPSTREAM}`, i.e. in the middle of a load. */
let duringLoad: (() => void) | undefined;

/** The environment for `${VAR}`: reading GH_UPSTREAM is how a test acts while a load runs. */
const env = new Proxy({} as NodeJS.ProcessEnv, {
  get(_t, name) {
    if (name !== 'GH_UPSTREAM') return undefined;
    const hook = duringLoad;
    duringLoad = undefined;
    hook?.();
    return upstream.url;
  },
});

const apiRoute = (groups: string[]) => ({ name: 'lab-api', path: '/api', upstream: upstream.url, allow: [{ groups }] });
const policies = () => join(dir, 'policies');

before(async () => {
  upstream = await startTestUpstream();
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-reload-integrity-'));
  mkdirSync(policies());
  writeFileSync(join(dir, 'idp.xml'), idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }));
  writeFileSync(
    join(dir, 'gatehouse.yaml'),
    stringify({
      server: { listen: `127.0.0.1:${port}`, public_url: url },
      session: { secret: TEST_SECRET },
      saml: { connections: [{ id: 'lab', idp_metadata_file: 'idp.xml' }] },
      policies: ['policies/*.yaml'],
    }),
  );
  writeFileSync(join(policies(), 'routes.yaml'), stringify({ routes: [apiRoute(['admins'])] }));
  app = await Gatehouse.start({ loaded: loadConfig(join(dir, 'gatehouse.yaml'), env), log: captureLogs().log, env });
  dana = await signIn(url, 'lab', 'dana@example.com', ['data-scientists']);
});

after(async () => {
  await app?.stop();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function status(path: string): Promise<number> {
  const res = await jarFetch(dana, `${url}${path}`);
  await res.arrayBuffer();
  return res.status;
}

async function until(what: string, probe: () => Promise<boolean> | boolean, ms = 8_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting until ${what}`);
    await sleep(50);
  }
}

const generation = () => app.context.policy.generation;

/** The final file admits data-scientists to /api except /api/secret; all but its deny is valid YAML that admits /api/secret too. */
const head = (upstreamText: string) => `routes:\n  - name: lab-api\n    path: /api\n    upstream: ${upstreamText}\n    allow:\n      - groups: [data-scientists]\n`;
const tail = `    deny:\n      - paths: [/api/secret]\n`;

describe('what a policy reload applies', { timeout: 60_000 }, () => {
  test('a half-written policy file is never applied: a writer pausing 600 ms before the deny line opens no window', async () => {
    const start = generation();
    const seen: { status: number; generation: number }[] = [];
    let writing = true;
    const probe = (async () => {
      while (writing) {
        seen.push({ status: await status('/api/secret'), generation: generation() });
        await sleep(20);
      }
    })();
    const fd = openSync(join(policies(), 'routes.yaml'), 'w');
    try {
      writeSync(fd, head(upstream.url));
      await sleep(600);
      writeSync(fd, tail);
    } finally {
      closeSync(fd);
    }
    await until('the final file serves', async () => (await status('/api/models')) === 200);
    await sleep(300);
    writing = false;
    await probe;
    const leaks = seen.filter((s) => s.status === 200);
    assert.deepEqual(leaks, [], `requests the final file denies were admitted (generation ${leaks[0]?.generation})`);
    assert.equal(await status('/api/secret'), 403);
    assert.equal(generation(), start + 1, 'one reload: the complete file, never the half');
  });

  test('a policy file rewritten while it is being loaded is not applied: the reload reads it again', async () => {
    writeFileSync(join(policies(), 'routes.yaml'), stringify({ routes: [apiRoute(['admins'])] }));
    await app.reload();
    assert.equal(await status('/api/models'), 403);
    const start = generation();
    // The loader has read the first half when the writer adds the deny.
    duringLoad = () => appendFileSync(join(policies(), 'routes.yaml'), tail);
    writeFileSync(join(policies(), 'routes.yaml'), head('${GH_UPSTREAM}'));
    const after = await app.reload();
    assert.equal(duringLoad, undefined, 'the write happened during the load');
    assert.equal(after.generation, start + 1, 'one reload applied');
    assert.equal(await status('/api/secret'), 403, 'what serves is the file as it ended, with its deny');
    assert.equal(await status('/api/models'), 200);
  });

  test('a policy directory replaced by rename stays watched: in-place edits after the swap apply', async () => {
    const fresh = join(dir, 'policies.new');
    mkdirSync(fresh);
    writeFileSync(join(fresh, 'routes.yaml'), stringify({ routes: [apiRoute(['admins'])] }));
    renameSync(policies(), join(dir, 'policies.old'));
    renameSync(fresh, policies());
    await until('the swapped-in directory serves', async () => (await status('/api/models')) === 403);
    const swapped = generation();

    writeFileSync(join(policies(), 'routes.yaml'), stringify({ routes: [apiRoute(['admins', 'data-scientists'])] }));
    await until('an in-place edit in the new directory applies', async () => (await status('/api/models')) === 200);
    assert.equal(generation(), swapped + 1);
  });
});
