import { readFileSync } from 'node:fs';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/problems.js';
import { PATHS } from '../server/endpoints/paths.js';

/** What `gatehouse metadata` was asked. */
export interface MetadataCommand {
  action: 'list' | 'refresh';
  /** The connection id (refresh). */
  connection?: string;
  /** Base URL of the instance to ask; default: `server.listen` of the config. */
  instance?: string;
  /** File holding the admin token; default: `admin.token` of the config. */
  adminTokenFile?: string;
  json: boolean;
}

interface PublicState {
  status: string;
  entity_id: string;
  certs: { fingerprint: string; not_after: string }[];
  valid_until: string | null;
  signature: string;
  fetched_at: string;
  next_refresh_at: string | null;
  last_error: { at: string; reason: string } | null;
}

/**
 * `gatehouse metadata list` and `gatehouse metadata refresh <connection>`: ask a running
 * instance's admin API for each connection's IdP metadata state, or to fetch one IdP's metadata
 * now. Each instance keeps its own copy: with several instances, refresh each (`--instance`).
 * Exit 0 on success, 1 when the refresh failed (the last good copy still serves) or the
 * instance could not be asked, 2 on usage errors.
 */
export async function runMetadata(file: string, cmd: MetadataCommand, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  if (cmd.action === 'refresh' && !cmd.connection) {
    err.write('gatehouse: metadata refresh needs a connection id\n');
    return 2;
  }
  let target: { base: string; token: string } | string;
  try {
    target = resolveTarget(file, cmd);
  } catch (e) {
    if (!(e instanceof ConfigError)) {
      err.write(`gatehouse: ${(e as Error).message}\n`);
      return 1;
    }
    for (const p of e.problems) err.write(`${formatProblem(p)}\n`);
    return 1;
  }
  if (typeof target === 'string') {
    err.write(`gatehouse: ${target}\n`);
    return 2;
  }
  try {
    if (cmd.action === 'list') {
      const body = (await call(target, 'connections', 'GET')) as { connections: { id: string; metadata: PublicState }[] };
      out.write(cmd.json ? `${JSON.stringify(body, null, 2)}\n` : body.connections.map((c) => formatState(c.id, c.metadata)).join('\n'));
      return 0;
    }
    const id = encodeURIComponent(cmd.connection!);
    const body = (await call(target, `connections/${id}/metadata/refresh`, 'POST')) as { refreshed: boolean; metadata: PublicState };
    out.write(cmd.json ? `${JSON.stringify(body, null, 2)}\n` : `${body.refreshed ? 'refreshed' : 'refresh FAILED (last good copy kept)'}\n${formatState(cmd.connection!, body.metadata)}`);
    return body.refreshed ? 0 : 1;
  } catch (e) {
    err.write(`gatehouse: ${(e as Error).message}\n`);
    return 1;
  }
}

/** The instance URL and admin token from the flags, the config filling what they leave out. */
function resolveTarget(file: string, cmd: MetadataCommand): { base: string; token: string } | string {
  let loaded: LoadedConfig | undefined;
  const config = () => (loaded ??= loadConfig(file)).config;
  const token = cmd.adminTokenFile !== undefined ? readFileSync(cmd.adminTokenFile, 'utf8').trim() : config().admin.token;
  if (!token) return 'no admin token: pass --admin-token-file FILE or set admin.token';
  let base = cmd.instance;
  if (base === undefined) {
    const { host, port } = config().server.listen;
    base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }
  if (!URL.canParse(base) || !/^https?:$/.test(new URL(base).protocol)) return `--instance must be an http(s) URL, got "${base}"`;
  return { base: new URL(PATHS.admin, base).href, token };
}

async function call(target: { base: string; token: string }, path: string, method: string): Promise<unknown> {
  const res = await fetch(target.base + path, { method, headers: { authorization: `Bearer ${target.token}` }, signal: AbortSignal.timeout(30_000) }).catch((e: Error) => {
    throw new Error(`cannot reach the running Gatehouse at ${target.base}: ${e.message}`);
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new Error(`admin API answered ${res.status}: ${JSON.stringify(body.error ?? body)}`);
  return body;
}

function formatState(id: string, s: PublicState): string {
  const lines = [
    `${id}: ${s.status}  entity ${s.entity_id}  signature ${s.signature}`,
    `  fetched ${s.fetched_at}${s.next_refresh_at ? `  next ${s.next_refresh_at}` : ''}${s.valid_until ? `  valid until ${s.valid_until}` : ''}`,
    ...s.certs.map((c) => `  cert ${c.fingerprint}  not after ${c.not_after}`),
  ];
  if (s.last_error) lines.push(`  last error ${s.last_error.at}: ${s.last_error.reason}`);
  return `${lines.join('\n')}\n`;
}
