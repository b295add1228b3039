import { adminTargetOrExit, callAdmin } from './admin-client.js';

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
  const target = adminTargetOrExit(file, cmd, err);
  if (typeof target === 'number') return target;
  try {
    if (cmd.action === 'list') {
      const body = (await callAdmin(target, 'connections')) as { connections: { id: string; metadata: PublicState }[] };
      out.write(cmd.json ? `${JSON.stringify(body, null, 2)}\n` : body.connections.map((c) => formatState(c.id, c.metadata)).join('\n'));
      return 0;
    }
    const id = encodeURIComponent(cmd.connection!);
    const body = (await callAdmin(target, `connections/${id}/metadata/refresh`, { method: 'POST' })) as { refreshed: boolean; metadata: PublicState };
    out.write(cmd.json ? `${JSON.stringify(body, null, 2)}\n` : `${body.refreshed ? 'refreshed' : 'refresh FAILED (last good copy kept)'}\n${formatState(cmd.connection!, body.metadata)}`);
    return body.refreshed ? 0 : 1;
  } catch (e) {
    err.write(`gatehouse: ${(e as Error).message}\n`);
    return 1;
  }
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
