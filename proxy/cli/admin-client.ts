import { readFileSync } from 'node:fs';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/problems.js';
import type { GatehouseConfig } from '../config/schema.js';
import { PATHS } from '../server/endpoints/paths.js';

/** A running instance's admin API (`…/.gatehouse/admin/`) and the bearer token to present. */
export interface AdminTarget {
  base: string;
  token: string;
}

/** What the command line said about which instance to ask, and with which token. */
export interface AdminTargetFlags {
  /** Base URL of the instance; default: `server.listen` of the config. */
  instance?: string;
  /** File holding the admin token; default: `admin.token` of the config. */
  adminTokenFile?: string;
}

/**
 * The admin API refused or failed a call (`status` 0: the instance could not be reached).
 * `body` is its parsed JSON answer (`{}` when there was none): branch on it, not on `message`.
 */
export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/**
 * The instance URL and admin token from the flags, the config filling what they leave out
 * (`config` is called only then: with both flags no config is read; a config error is thrown).
 * A wildcard `server.listen` address is asked on loopback. Returns a message (a usage error:
 * exit 2) when there is no token or the URL is not http(s).
 */
export function resolveAdminTarget(flags: AdminTargetFlags, config: () => Pick<GatehouseConfig, 'admin' | 'server'>): AdminTarget | string {
  const token = flags.adminTokenFile !== undefined ? readFileSync(flags.adminTokenFile, 'utf8').trim() : config().admin.token;
  if (!token) return 'no admin token: set admin.token in the config (the running instance must use the same) or pass --admin-token-file FILE';
  let base = flags.instance;
  if (base === undefined) {
    const { host, port } = config().server.listen;
    const ask = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    base = `http://${ask.includes(':') ? `[${ask}]` : ask}:${port}`;
  }
  if (!URL.canParse(base) || !/^https?:$/.test(new URL(base).protocol)) return `--instance must be an http(s) URL, got "${base}"`;
  return { base: new URL(PATHS.admin, base).href, token };
}

/**
 * The admin target of a command (config `file` read only when the flags leave something out),
 * or the exit code after saying why on `err`: 1 for config problems (each with its file:line)
 * or an unreadable token file, 2 for a usage error (no token, not an http(s) URL).
 */
export function adminTargetOrExit(file: string, flags: AdminTargetFlags, err: NodeJS.WritableStream): AdminTarget | number {
  let target: AdminTarget | string;
  try {
    let loaded: LoadedConfig | undefined;
    target = resolveAdminTarget(flags, () => (loaded ??= loadConfig(file)).config);
  } catch (e) {
    if (!(e instanceof ConfigError)) err.write(`gatehouse: ${(e as Error).message}\n`);
    else for (const p of e.problems) err.write(`${formatProblem(p)}\n`);
    return 1;
  }
  if (typeof target !== 'string') return target;
  err.write(`gatehouse: ${target}\n`);
  return 2;
}

/**
 * Calls the admin API (`path` relative to `/.gatehouse/admin/`), JSON in and out, within 30 s.
 * @throws AdminApiError one line: unreachable (status 0), the token refused (401/403), any other
 *   non-2xx answer (404 too unless `allow404`)
 */
export async function callAdmin(target: AdminTarget, path: string, init: { method?: string; body?: unknown; allow404?: boolean } = {}): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { authorization: `Bearer ${target.token}`, accept: 'application/json' };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(target.base + path, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    signal: AbortSignal.timeout(30_000),
  }).catch((e: Error) => {
    const cause = e.cause instanceof Error ? e.cause.message : e.message;
    throw new AdminApiError(0, `cannot reach the running Gatehouse at ${target.base}: ${cause}`);
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (res.status === 401 || res.status === 403) {
    throw new AdminApiError(res.status, `the running Gatehouse at ${target.base} refused the admin token (${res.status}): use its admin.token, in the config or with --admin-token-file FILE`, body);
  }
  if (!res.ok && !(init.allow404 && res.status === 404)) throw new AdminApiError(res.status, `admin API answered ${res.status}: ${JSON.stringify(body.error ?? body)}`, body);
  return body;
}
