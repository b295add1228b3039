/**
 * The tunnel's TokenKeeper picking up a new `gatehouse login` from a real credentials file, and
 * which refused requests the tunnel sends again. Only stored, unexpired tokens are involved here:
 * nothing is asked of a Gatehouse (test/integration/cli-tunnel.test.ts does that end to end).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { writeCredentials, type CredentialEntry } from '../../proxy/cli/credentials-file.js';
import { TokenKeeper } from '../../proxy/cli/token-keeper.js';
import { replayable, tokenRefused } from '../../proxy/cli/tunnel-replay.js';

// Loopback with nothing listening: a refresh the keeper tries is refused at once, never sent off this machine.
const ISSUER = 'http://127.0.0.1:9';
const root = mkdtempSync(join(tmpdir(), 'gatehouse-keeper-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const LATER = '2099-01-01T00:00:00.000Z';
const PAST = '2000-01-01T00:00:00.000Z';
const login = (name: string, o: Partial<CredentialEntry> = {}): CredentialEntry => ({ refresh_token: `gtr_${name}.k`, access_token: `gta_${name}`, access_expires_at: LATER, user: 'alice@example.com', hosts: [], ...o });

/** A credentials file holding `entry`, a keeper on it for `origin`, and what it said on switching. */
function keeperOn(entry: CredentialEntry, origin = ISSUER) {
  const path = join(root, `case-${n++}`, 'credentials.json');
  writeCredentials(path, { [ISSUER]: entry });
  const said: string[] = [];
  const keeper = new TokenKeeper({ path, issuer: ISSUER, entry: { ...entry } }, { origin, onSwitch: (issuer, user, previous) => said.push(`${issuer} ${user} ${previous}`) });
  const write = (e: CredentialEntry | undefined) => writeCredentials(path, e ? { [ISSUER]: e } : {});
  return { keeper, said, write };
}

describe('TokenKeeper: a new login in the credentials file', () => {
  it('is used once Gatehouse refused our token, said once; a late refusal of the old token gets the new one too', async () => {
    const { keeper, said, write } = keeperOn(login('a'));
    assert.equal(await keeper.get(), 'gta_a');
    write(login('b'));
    assert.equal(await keeper.get(), 'gta_a', 'a valid token is used without reading the file');
    assert.equal(await keeper.renew('gta_a'), 'gta_b');
    assert.equal(await keeper.get(), 'gta_b');
    assert.equal(await keeper.renew('gta_a'), 'gta_b', 'a second request refused with the old token');
    assert.deepEqual(said, [`${ISSUER} alice@example.com alice@example.com`]);
  });

  it('nothing newer in the file (same login, or signed out): the refused token is not retried', async () => {
    const { keeper, said, write } = keeperOn(login('a'));
    assert.equal(await keeper.renew('gta_a'), undefined);
    write(undefined);
    assert.equal(await keeper.renew('gta_a'), undefined);
    assert.deepEqual(said, []);
  });

  it('token sent to a host the new login does not name: the old login is kept, and the user told once', async () => {
    const path = join(root, `case-${n++}`, 'credentials.json');
    const first = login('a', { hosts: ['https://tf.example'] });
    writeCredentials(path, { [ISSUER]: first });
    const said: string[] = [];
    const ignored: string[] = [];
    const keeper = new TokenKeeper({ path, issuer: ISSUER, entry: { ...first } }, { origin: 'https://tf.example', onSwitch: (i, u) => said.push(`${i} ${u}`), onIgnored: (i, o) => ignored.push(`${i} ${o}`) });
    const write = (e: CredentialEntry) => writeCredentials(path, { [ISSUER]: e });
    write(login('b', { hosts: ['https://other.example'] }));
    assert.equal(await keeper.renew('gta_a'), undefined);
    assert.equal(await keeper.renew('gta_a'), undefined);
    assert.deepEqual(ignored, [`${ISSUER} https://tf.example`], 'said once for this version of the file');
    assert.deepEqual(said, []);
    write(login('c', { hosts: ['https://tf.example'] }));
    assert.equal(await keeper.renew('gta_a'), 'gta_c');
    assert.equal(await keeper.get(), 'gta_c');
  });

  it('is read before a refresh when the file changed: its token is used without asking Gatehouse', async () => {
    const { keeper, said, write } = keeperOn(login('a', { access_expires_at: PAST }));
    write(login('b', { user: 'bob@example.com' }));
    assert.equal(await keeper.get(), 'gta_b');
    assert.deepEqual(said, [`${ISSUER} bob@example.com alice@example.com`]);
  });

  it('the same login refreshed by another command: its newer access token is used, no switch said', async () => {
    const { keeper, said, write } = keeperOn(login('a', { access_expires_at: PAST }));
    write(login('a', { access_token: 'gta_a2' }));
    assert.equal(await keeper.get(), 'gta_a2');
    assert.deepEqual(said, []);
  });
});

describe('tunnel: which refused requests are sent again', () => {
  it('request sent twice after a new login: only idempotent methods without a body are replayed', () => {
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']) assert.equal(replayable(m, {}), true, m);
    assert.equal(replayable('GET', { 'content-length': '0' }), true);
    for (const m of ['POST', 'PATCH', 'CONNECT', undefined]) assert.equal(replayable(m, {}), false, String(m));
    assert.equal(replayable('PUT', { 'content-length': '5' }), false, 'its body was streamed and not kept');
    assert.equal(replayable('GET', { 'transfer-encoding': 'chunked' }), false);
  });

  it("only Gatehouse's refusal of the token counts, not an upstream's own 401", () => {
    assert.equal(tokenRefused(401, { 'www-authenticate': 'Bearer realm="gatehouse", error="invalid_token", login_url="https://gh.example/x"' }), true);
    assert.equal(tokenRefused(401, { 'www-authenticate': 'Bearer realm="gatehouse"' }), false, 'no token was sent (AUTHENTICATION_REQUIRED)');
    assert.equal(tokenRefused(401, { 'www-authenticate': 'Bearer realm="api", error="invalid_token"' }), false);
    assert.equal(tokenRefused(401, {}), false);
    assert.equal(tokenRefused(403, { 'www-authenticate': 'Bearer realm="gatehouse", error="invalid_token"' }), false);
  });
});
