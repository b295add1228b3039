import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { CliError } from '../../proxy/cli/cli-error.js';
import { credentialsDir, credentialsPath, findEntry, mayReceiveToken, readCredentials, updateCredentials, writeCredentials, type Credentials } from '../../proxy/cli/credentials-file.js';

const execFileAsync = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'gatehouse-creds-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `case-${n++}`, 'gatehouse', 'credentials.json');
const mode = (p: string) => statSync(p).mode & 0o777;

const entry = (user: string, hosts: string[] = []) => ({ refresh_token: `gtr_${user}.k`, access_token: `gta_${user}`, access_expires_at: '2030-01-01T00:00:00.000Z', user, hosts });

describe('credentials file', () => {
  it('lives in $GATEHOUSE_CONFIG_DIR, else $XDG_CONFIG_HOME/gatehouse, else ~/.config/gatehouse', () => {
    assert.equal(credentialsPath({ GATEHOUSE_CONFIG_DIR: '/x/y', XDG_CONFIG_HOME: '/z' }), '/x/y/credentials.json');
    assert.equal(credentialsDir({ XDG_CONFIG_HOME: '/z' }), '/z/gatehouse');
    assert.match(credentialsDir({}), /\/\.config\/gatehouse$/);
  });

  it('is written with the directory 0700 and the file 0600, and read back', () => {
    const path = fresh();
    const creds: Credentials = { 'https://gh.example': entry('alice@example.com', ['https://tf.example']) };
    writeCredentials(path, creds);
    assert.equal(mode(join(path, '..')), 0o700);
    assert.equal(mode(path), 0o600);
    assert.deepEqual(readCredentials(path), creds);
  });

  it('a missing file reads as no sign-in', () => {
    assert.deepEqual(readCredentials(fresh()), {});
  });

  it('tokens readable by other users: a 0644 file is refused, saying how to fix it', () => {
    const path = fresh();
    writeCredentials(path, { 'https://gh.example': entry('a') });
    chmodSync(path, 0o644);
    assert.throws(() => readCredentials(path), (e: unknown) => e instanceof CliError && /mode 0644/.test(e.message) && e.message.includes(`chmod 600 ${path}`));
    chmodSync(path, 0o640);
    assert.throws(() => readCredentials(path), /mode 0640/, 'group-readable refused too');
    chmodSync(path, 0o602);
    assert.throws(() => readCredentials(path), /mode 0602/, 'world-writable refused too');
    chmodSync(path, 0o600);
    assert.equal(readCredentials(path)['https://gh.example']?.user, 'a', 'control: 0600 is read');
  });

  it('tokens readable by other users: an existing 0755 directory is narrowed to 0700 on write', () => {
    const path = fresh();
    mkdirSync(join(path, '..'), { recursive: true, mode: 0o755 });
    chmodSync(join(path, '..'), 0o755);
    writeCredentials(path, {});
    assert.equal(mode(join(path, '..')), 0o700);
  });

  it('a rewrite is atomic: no temp file is left, a 0600 file replaces the old one', () => {
    const path = fresh();
    writeCredentials(path, { a: entry('a') });
    const before = statSync(path).ino;
    updateCredentials(path, (c) => {
      c.b = entry('b');
    });
    assert.notEqual(statSync(path).ino, before, 'renamed into place, not rewritten in place');
    assert.deepEqual(readdirSync(join(path, '..')), ['credentials.json']);
    assert.equal(mode(path), 0o600);
    assert.deepEqual(Object.keys(readCredentials(path)), ['a', 'b']);
  });

  it('a file that is not a JSON object is refused with a way out', () => {
    const path = fresh();
    writeCredentials(path, {});
    writeFileSync(path, '[1,2]');
    assert.throws(() => readCredentials(path), /not a valid credentials file.*gatehouse login/);
    writeFileSync(path, '{broken');
    assert.throws(() => readCredentials(path), /not a valid credentials file/);
    assert.equal(readFileSync(path, 'utf8'), '{broken', 'left as it was');
  });

  it('an entry of another shape is refused, never used (hosts as a string would match any origin containing it)', () => {
    const path = fresh();
    const good = entry('alice@example.com', ['https://tf.example']);
    const bad: Record<string, unknown>[] = [
      { ...good, hosts: 'xxhttps://tf.example' },
      { ...good, hosts: [5] },
      { ...good, access_token: 7 },
      { ...good, refresh_token: undefined },
      { ...good, user: null },
    ];
    for (const e of bad) {
      writeCredentials(path, {});
      writeFileSync(path, JSON.stringify({ 'https://gh.example': e }));
      assert.throws(() => readCredentials(path), (err: unknown) => err instanceof CliError && /not a valid credentials file \(the entry of https:\/\/gh.example/.test(err.message), JSON.stringify(e));
    }
    writeFileSync(path, JSON.stringify({ 'https://gh.example': good }));
    assert.deepEqual(readCredentials(path), { 'https://gh.example': good });
  });
});

describe('concurrent commands', () => {
  it('lost update: several processes updating the file at once keep every entry (the tunnel cannot write an old login back over a new one)', async () => {
    const path = fresh();
    writeCredentials(path, {});
    const script = `
      import { updateCredentials } from ${JSON.stringify(new URL('../../proxy/cli/credentials-file.ts', import.meta.url).href)};
      const [path, who] = process.argv.slice(1);
      for (let i = 0; i < 40; i++) updateCredentials(path, (c) => { c['https://' + who + i + '.example'] = { refresh_token: 'gtr_' + who, user: who, hosts: [] }; });
    `;
    const writers = ['a', 'b', 'c', 'd'].map((who) => execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, path, who], { timeout: 60_000 }));
    await Promise.all(writers);
    assert.equal(Object.keys(readCredentials(path)).length, 160, 'no update lost');
    assert.ok(!readdirSync(join(path, '..')).some((f) => f.endsWith('.lock')), 'the lock is gone');
  });

  it('a lock held by a live command: the update waits, then gives up with a way out, changing nothing', () => {
    const path = fresh();
    writeCredentials(path, { 'https://gh.example': entry('alice') });
    writeFileSync(`${path}.lock`, '');
    const started = Date.now();
    assert.throws(() => updateCredentials(path, (c) => delete c['https://gh.example'], 100), (e: unknown) => e instanceof CliError && /is held by another gatehouse command; if none is running, remove it/.test(e.message));
    assert.ok(Date.now() - started >= 100, 'it waited');
    assert.ok(readCredentials(path)['https://gh.example'], 'nothing changed');
  });

  it('a lock left by a command that died (older than 10 s) is taken over', () => {
    const path = fresh();
    writeCredentials(path, { 'https://gh.example': entry('alice') });
    writeFileSync(`${path}.lock`, '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${path}.lock`, old, old);
    updateCredentials(path, (c) => delete c['https://gh.example'], 100);
    assert.deepEqual(readCredentials(path), {});
  });
});

describe('finding the sign-in for a host', () => {
  const creds: Credentials = {
    'https://gh.example': entry('alice', ['https://gh.example', 'https://tf.example']),
    'https://other.example:8443': entry('bob'),
  };

  it('by issuer origin or by a host named at login, whatever the path', () => {
    assert.equal(findEntry(creds, 'https://gh.example/some/path').issuer, 'https://gh.example');
    assert.equal(findEntry(creds, 'https://tf.example/v1/models').issuer, 'https://gh.example');
    assert.equal(findEntry(creds, 'https://other.example:8443').entry.user, 'bob');
  });

  it('another scheme or port is another host', () => {
    assert.throws(() => findEntry(creds, 'http://tf.example/'), /not signed in to http:\/\/tf\.example: run gatehouse login http:\/\/tf\.example/);
    assert.throws(() => findEntry(creds, 'https://other.example/'), /not signed in to https:\/\/other\.example/);
  });

  it('without --host: the only entry, else a usage error naming them', () => {
    assert.equal(findEntry({ 'https://gh.example': entry('a') }).issuer, 'https://gh.example');
    assert.throws(() => findEntry(creds), (e: unknown) => e instanceof CliError && e.exitCode === 2 && /several.*--host/.test(e.message));
    assert.throws(() => findEntry({}), (e: unknown) => e instanceof CliError && e.exitCode === 1 && /run gatehouse login https:\/\/<your Gatehouse>/.test(e.message));
  });

  it('token sent to another host: only the issuer and the hosts named at login may receive it', () => {
    const e = creds['https://gh.example']!;
    assert.equal(mayReceiveToken('https://gh.example', e, 'https://gh.example'), true);
    assert.equal(mayReceiveToken('https://gh.example', e, 'https://tf.example'), true);
    assert.equal(mayReceiveToken('https://gh.example', e, 'https://evil.example'), false);
    assert.equal(mayReceiveToken('https://gh.example', e, 'http://tf.example'), false);
  });
});
