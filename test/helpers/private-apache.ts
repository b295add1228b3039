/**
 * A private Apache 2.4 instance: its own temp dir (the ServerRoot), httpd.conf, PidFile, runtime
 * dir and error log, listening on loopback on a free port. Started with
 * `apache2 -d DIR -f CONF -k start`; stopped with `-k stop` on the same config, then waited for
 * (and, after a timeout, SIGKILLed) by pid, never by process name.
 *
 * Shared by the SimpleSAMLphp test IdP (test/helpers/simplesamlphp.ts) and the Apache +
 * mod_auth_mellon benchmark baseline (bench/lib/mellon.ts); each writes its own httpd.conf.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, chown } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';

const execFileAsync = promisify(execFile);

export const APACHE_BIN = '/usr/sbin/apache2';
export const APACHE_MODULES = '/usr/lib/apache2/modules';
/** Apache's children run as this user when it is started as root (Debian's default). */
export const APACHE_USER = 'www-data';
/** Ports tried before giving up when Apache loses the race for a port {@link freePort} found. */
const PORT_ATTEMPTS = 5;
/** How long `apache2 -k stop` gets before the processes are SIGKILLed. */
const STOP_TIMEOUT_MS = 10_000;

/** Where a private Apache keeps its files; callers' layouts extend it with their own. */
export interface PrivateApache {
  /** The instance's temp dir, also its ServerRoot (`-d`). */
  dir: string;
  /** The config it runs with (`-f`). */
  httpdConf: string;
  /** `DefaultRuntimeDir`. */
  runDir: string;
  /** `PidFile`: the pid of the parent process, written by the daemon itself. */
  pidFile: string;
  /** `ErrorLog`. */
  errorLog: string;
}

/** A uid/gid pair, as files are chowned to. */
export interface Owner {
  uid: number;
  gid: number;
}

/** Options of {@link startApache}. */
export interface StartApacheOptions {
  /** Loopback address to find a free port on [`127.0.0.1`]. */
  host?: string;
  /** Writes the config (httpd.conf and whatever depends on the port) for `port`; runs before every attempt. */
  configure(port: number): void | Promise<void>;
  /** Log tails for error messages [the last 20 lines of the error log]. */
  logTail?: () => string;
}

// ---------------------------------------------------------------------------------------------
// Config and files

/** A `LoadModule` line for a module of Debian's apache2. */
export function loadModule(name: string, file: string): string {
  return `LoadModule ${name} ${APACHE_MODULES}/${file}`;
}

/** `LoadModule` lines, one a file, for files named as usual: `mod_foo.so` holds `foo_module`. */
export function loadModules(...files: string[]): string {
  return files
    .map((file) => {
      const name = /^mod_(\w+)\.so$/.exec(file)?.[1];
      if (name === undefined) throw new Error(`loadModules: ${file} is not named mod_NAME.so; use loadModule()`);
      return loadModule(`${name}_module`, file);
    })
    .join('\n');
}

/** `host` as it appears in a URL or a `Listen` directive: IPv6 addresses in brackets. */
export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * The httpd.conf lines that make an instance private: ServerRoot, ServerName, Listen, PidFile,
 * DefaultRuntimeDir, ErrorLog (LogLevel warn) and, when `user` is given, User and Group.
 */
export function httpdServerLines(layout: PrivateApache, host: string, port: number, user?: string): string {
  return [
    `ServerRoot "${layout.dir}"`,
    `ServerName ${hostForUrl(host)}`,
    `Listen ${hostForUrl(host)}:${port}`,
    `PidFile "${layout.pidFile}"`,
    `DefaultRuntimeDir "${layout.runDir}"`,
    `ErrorLog "${layout.errorLog}"`,
    'LogLevel warn',
    ...(user === undefined ? [] : [`User ${user}`, `Group ${user}`]),
  ].join('\n');
}

/** uid and gid of `name` from /etc/passwd; throws when there is no such user. */
export function lookupUser(name: string): Owner {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error(`user ${name} not found in /etc/passwd (needed to run Apache as root)`);
  }
  return { uid: Number(uid), gid: Number(gid) };
}

/** The user Apache's children run as: {@link APACHE_USER} when we are root; undefined (us) otherwise. */
export function childOwner(): Owner | undefined {
  return process.getuid?.() === 0 ? lookupUser(APACHE_USER) : undefined;
}

/**
 * A fresh RSA-2048 key and a self-signed SHA-256 certificate (30 days) for `subject`. The key is
 * readable by root and `owner`'s group only (by us only without an owner); the cert by everyone.
 */
export async function generateKeyPair(o: { key: string; cert: string; subject: string; owner: Owner | undefined }): Promise<void> {
  await execFileAsync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-sha256', '-days', '30', '-nodes',
    '-subj', o.subject, '-keyout', o.key, '-out', o.cert,
  ]);
  if (o.owner) await chown(o.key, 0, o.owner.gid);
  await chmod(o.key, o.owner ? 0o640 : 0o600);
  await chmod(o.cert, 0o644);
}

/**
 * Base64 body of a PEM certificate, as SAML metadata's `ds:X509Certificate` and SimpleSAMLphp's
 * `certData` want it. `name` (e.g. an option's) starts the error message.
 */
export function certBase64(pem: string, name?: string): string {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!match?.[1]) throw new Error(name ? `${name} is not a PEM certificate` : 'not a PEM certificate');
  return match[1].replace(/\s+/g, '');
}

/** The last `lines` lines of each non-empty file, each after a `--- PATH` header (for error messages). */
export function logTail(files: readonly string[], lines = 20): string {
  const tails = files.map((file) => {
    let text = '';
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch {
      // not written (yet)
    }
    return text ? `--- ${file}\n${text.split('\n').slice(-lines).join('\n')}` : '';
  });
  return tails.filter(Boolean).join('\n');
}

/** An execFile error's message and stderr. */
export function describeExecError(err: unknown): string {
  const e = err as { message?: string; stderr?: string };
  return [e.message, e.stderr].filter(Boolean).join('\n');
}

// ---------------------------------------------------------------------------------------------
// Start

function apacheArgs(layout: PrivateApache, signal: 'start' | 'stop'): string[] {
  return ['-d', layout.dir, '-f', layout.httpdConf, '-k', signal];
}

/** Apache lost the race for the port between {@link freePort} and its own bind. */
function lostPortRace(err: unknown, layout: PrivateApache): boolean {
  return /could not bind|Address already in use/i.test(describeExecError(err) + logTail([layout.errorLog]));
}

/**
 * Finds a free port, has `configure` write the config for it and runs `apache2 -k start`
 * (retrying on another port when Apache loses the race for it). Resolves with the port once
 * `-k start` has returned: the daemon has forked, but may not have written its PidFile yet.
 */
export async function startApache(layout: PrivateApache, options: StartApacheOptions): Promise<number> {
  const tail = options.logTail ?? (() => logTail([layout.errorLog]));
  let lastError: unknown;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort(options.host ?? '127.0.0.1');
    await options.configure(port);
    try {
      await execFileAsync(APACHE_BIN, apacheArgs(layout, 'start'));
      return port;
    } catch (err) {
      lastError = err;
      if (!lostPortRace(err, layout)) throw new Error(`apache2 -k start failed: ${describeExecError(err)}\n${tail()}`);
    }
  }
  throw new Error(`apache2 could not bind a free port after ${PORT_ATTEMPTS} attempts: ${describeExecError(lastError)}`);
}

// ---------------------------------------------------------------------------------------------
// Processes (by pid only, never by name)

/** The pid in the instance's PidFile, if it holds one. */
export function readPid(layout: PrivateApache): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(layout.pidFile, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Polls the PidFile (the daemon writes it just after `apache2 -k start` returns) for up to `timeoutMs`. */
export async function waitForPid(layout: PrivateApache, timeoutMs: number): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  let pid = readPid(layout);
  while (pid === undefined && Date.now() < deadline) {
    await sleep(50);
    pid = readPid(layout);
  }
  return pid;
}

/** Alive and not a zombie (a daemonized Apache is reparented to PID 1, which may never reap it). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** `process.kill` that ignores a process already gone. */
export function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Pids of the running children of `pid` that are apache2 processes. */
function apacheChildren(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      if (ppid === pid && comm === 'apache2') children.push(Number(entry));
    } catch {
      // the process exited while we looked
    }
  }
  return children;
}

/** True once none of `pids` runs, false if some still do after `timeoutMs`. */
async function waitForExit(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isRunning)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/**
 * `apache2 -k stop` on the instance's own config (SIGTERM to `pid` if that fails), then waits for
 * `pid` and its children; SIGKILLs those still running (by pid) after the timeout.
 */
export async function stopApache(layout: PrivateApache, pid: number): Promise<void> {
  if (!isRunning(pid)) return;
  const pids = [pid, ...apacheChildren(pid)];
  await execFileAsync(APACHE_BIN, apacheArgs(layout, 'stop')).catch(() => killQuietly(pid, 'SIGTERM'));
  if (await waitForExit(pids, STOP_TIMEOUT_MS)) return;
  for (const p of pids.filter(isRunning)) killQuietly(p, 'SIGKILL');
  await waitForExit(pids, 2_000);
}
