import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError } from './cli-error.js';

/** What `gatehouse login` stored for one Gatehouse (one issuer origin). */
export interface CredentialEntry {
  /** `gtr_…`: lives as long as the CLI session; exchanged for access tokens. */
  refresh_token: string;
  /** `gta_…`: short-lived bearer token. */
  access_token?: string;
  /** When the access token expires (ISO 8601). */
  access_expires_at?: string;
  /** Who signed in. */
  user: string;
  /** Origins this Gatehouse serves that the user named (`gatehouse login URL`); the token may be sent there. */
  hosts: string[];
}

/** The whole file: issuer origin -> entry. */
export type Credentials = Record<string, CredentialEntry>;

const FILE = 'credentials.json';

/**
 * The directory holding credentials.json: `$GATEHOUSE_CONFIG_DIR`, else
 * `${XDG_CONFIG_HOME:-~/.config}/gatehouse`.
 */
export function credentialsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GATEHOUSE_CONFIG_DIR) return env.GATEHOUSE_CONFIG_DIR;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'gatehouse');
}

/** The credentials file path. */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(credentialsDir(env), FILE);
}

/**
 * Reads the file ({} when absent). Refuses a file that group or others may read or write: the
 * refresh token in it is as good as the user's session (like ssh refusing a 0644 private key).
 * @throws CliError mode too open, unreadable or not JSON
 */
export function readCredentials(path: string): Credentials {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new CliError(`${path} is accessible by other users (mode 0${mode.toString(8)}); it holds your tokens: run "chmod 600 ${path}" (or "gatehouse logout" and sign in again)`);
    }
    const parsed: unknown = JSON.parse(readFileSync(fd, 'utf8'));
    if (!isRecord(parsed)) throw new Error('not a JSON object');
    for (const [issuer, entry] of Object.entries(parsed)) {
      const problem = entryProblem(entry);
      if (problem) throw new Error(`the entry of ${issuer} ${problem}`);
    }
    return parsed as Credentials;
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${path} is not a valid credentials file (${(e as Error).message}): remove it and run gatehouse login https://<your Gatehouse>`);
  } finally {
    closeSync(fd);
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** What is wrong with one entry's shape, or undefined: a token or host list of another type is never used. */
function entryProblem(entry: unknown): string | undefined {
  if (!isRecord(entry)) return 'is not an object';
  if (typeof entry.refresh_token !== 'string' || typeof entry.user !== 'string') return 'lacks refresh_token or user';
  for (const k of ['access_token', 'access_expires_at'] as const) if (entry[k] !== undefined && typeof entry[k] !== 'string') return `has a ${k} that is not a string`;
  if (entry.hosts !== undefined && !(Array.isArray(entry.hosts) && entry.hosts.every((h) => typeof h === 'string'))) return 'has hosts that are not a list of origins';
  return undefined;
}

/**
 * Writes the whole file atomically: the directory is made (or set) 0700, a temp file is created
 * 0600 with O_EXCL beside it, synced, then renamed over the old file. Readers see the old or the
 * new file, never half of one, and the tokens are never readable by others, not even briefly.
 */
export function writeCredentials(path: string, creds: Credentials): void {
  const dir = join(path, '..');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (process.platform !== 'win32') chmodSync(dir, 0o700);
  const tmp = join(dir, `.${FILE}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(creds, null, 2)}\n`);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    try {
      unlinkSync(tmp);
    } catch {
      /* never written */
    }
    throw e;
  }
}

/** How long a command waits for another's lock on the file, and when a lock is taken as left behind. */
const LOCK_WAIT_MS = 3_000;
const LOCK_STALE_MS = 10_000;

/**
 * Reads, lets `change` edit the entries, writes back, holding `<path>.lock` throughout: a tunnel
 * storing a refreshed token while `gatehouse login` stores a new login must not write the old
 * entry back over the new one (the old session is revoked by then: the user would be signed
 * out). The lock is a file made with O_EXCL holding a nonce of its own; one older than 10 s is
 * left from a command that died and is taken over. A lock is removed only while it still holds
 * the nonce its remover read, so a command never removes a lock another has taken since.
 * @throws CliError the lock stays held longer than `waitMs`
 */
export function updateCredentials(path: string, change: (creds: Credentials) => void, waitMs = LOCK_WAIT_MS): Credentials {
  const lock = `${path}.lock`;
  const nonce = acquire(lock, waitMs);
  try {
    const creds = readCredentials(path);
    change(creds);
    writeCredentials(path, creds);
    return creds;
  } finally {
    removeIfHolds(lock, nonce);
  }
}

/** Takes the lock; returns the nonce written into it. */
function acquire(lock: string, waitMs: number): string {
  const dir = join(lock, '..');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const nonce = `${process.pid}.${randomBytes(8).toString('hex')}`;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, nonce);
      closeSync(fd);
      return nonce;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new CliError(`cannot lock ${lock}: ${(e as Error).message}`);
    }
    const held = statSync(lock, { throwIfNoEntry: false });
    if (held && Date.now() - held.mtimeMs > LOCK_STALE_MS) {
      removeIfHolds(lock, readLock(lock));
      continue;
    }
    if (Date.now() >= deadline) throw new CliError(`${lock} is held by another gatehouse command; if none is running, remove it`);
    // A CLI command: blocking briefly is fine, and keeps every caller synchronous.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}

function readLock(lock: string): string | undefined {
  try {
    return readFileSync(lock, 'utf8');
  } catch {
    return undefined;
  }
}

/** Removes the lock while it holds `nonce` (read just before: the window is that of one read). */
function removeIfHolds(lock: string, nonce: string | undefined): void {
  if (nonce !== undefined && readLock(lock) === nonce) rmSync(lock, { force: true });
}

/** The origin of `url` (`https://host[:port]`), or a usage error. */
export function originOf(url: string): string {
  if (!URL.canParse(url)) throw new CliError(`not a URL: "${url}"`, 2);
  const u = new URL(url);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new CliError(`not an http(s) URL: "${url}"`, 2);
  return u.origin;
}

/**
 * The entry for `host` (matched by issuer origin or a remembered host), or the only entry when
 * `host` is absent.
 * @throws CliError not signed in there; several entries and no `host` (exit 2)
 */
export function findEntry(creds: Credentials, host?: string): { issuer: string; entry: CredentialEntry } {
  const issuers = Object.keys(creds);
  if (host === undefined) {
    if (issuers.length === 1) return { issuer: issuers[0]!, entry: creds[issuers[0]!]! };
    if (issuers.length === 0) throw new CliError('not signed in: run gatehouse login https://<your Gatehouse>');
    throw new CliError(`signed in to several Gatehouses (${issuers.join(', ')}): pass --host URL`, 2);
  }
  const origin = originOf(host);
  const issuer = issuers.find((i) => i === origin) ?? issuers.find((i) => creds[i]!.hosts?.includes(origin));
  if (issuer === undefined) throw new CliError(`not signed in to ${origin}: run gatehouse login ${origin}`);
  return { issuer, entry: creds[issuer]! };
}

/** True when the token may be sent to `origin`: the issuer itself or a host the user named at login. */
export function mayReceiveToken(issuer: string, entry: CredentialEntry, origin: string): boolean {
  return origin === issuer || (entry.hosts ?? []).includes(origin);
}
