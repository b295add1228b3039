import { AdminApiError, adminTargetOrExit, callAdmin, type AdminTarget } from './admin-client.js';
import { formatTable } from './table.js';

/** What `gatehouse tokens` was asked. */
export interface TokensCommand {
  action: 'create' | 'list' | 'revoke';
  serviceAccount?: string;
  /** Lifetime of a new token (`1h`, `7d`); default 1h, at most the account's max_ttl. */
  ttl?: string;
  description?: string;
  /** The token id (revoke). */
  id?: string;
  /** Base URL of the instance to ask; default: `server.listen` of the config. */
  instance?: string;
  /** File holding the admin token; default: `admin.token` of the config. */
  adminTokenFile?: string;
  json: boolean;
}

interface PublicToken {
  id: string;
  service_account: string;
  created_at: string;
  expires_at: string;
  last_used_at: string;
}

/**
 * `gatehouse tokens create --service-account NAME [--ttl 1h] [--description TEXT]`,
 * `gatehouse tokens list [--service-account NAME]` and `gatehouse tokens revoke ID`, through a
 * running instance's admin API (service tokens are sessions: any instance of a deployment sees
 * them all). `create` prints the token alone on stdout, once (`TOKEN=$(gatehouse tokens create …)`),
 * its id and end on stderr. Exit 0 on success, 1 when refused or unreachable, 2 on usage errors.
 */
export async function runTokens(file: string, cmd: TokensCommand, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const usage = usageError(cmd);
  if (usage) {
    err.write(`gatehouse: ${usage}\n`);
    return 2;
  }
  const target = adminTargetOrExit(file, cmd, err);
  if (typeof target === 'number') return target;
  try {
    return await perform(target, cmd, out, err);
  } catch (e) {
    err.write(`gatehouse: ${e instanceof AdminApiError ? refusal(e) : (e as Error).message}\n`);
    return 1;
  }
}

async function perform(target: AdminTarget, cmd: TokensCommand, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  if (cmd.action === 'create') {
    const body = { ...(cmd.ttl !== undefined ? { ttl: cmd.ttl } : {}), ...(cmd.description !== undefined ? { description: cmd.description } : {}) };
    const made = (await callAdmin(target, `service-accounts/${encodeURIComponent(cmd.serviceAccount!)}/tokens`, { method: 'POST', body })) as { token: string; id: string; service_account: string; expires_at: string };
    if (cmd.json) {
      out.write(`${JSON.stringify(made, null, 2)}\n`);
      return 0;
    }
    out.write(`${made.token}\n`);
    err.write(`token ${made.id} for service account ${made.service_account}, expires ${made.expires_at}; shown once, store it now\n`);
    return 0;
  }
  if (cmd.action === 'list') {
    const query = cmd.serviceAccount !== undefined ? `?service_account=${encodeURIComponent(cmd.serviceAccount)}` : '';
    const body = (await callAdmin(target, `service-accounts/tokens${query}`)) as { tokens: PublicToken[]; truncated: boolean };
    out.write(cmd.json ? `${JSON.stringify(body, null, 2)}\n` : tokenTable(body.tokens, body.truncated));
    return 0;
  }
  const body = (await callAdmin(target, `service-accounts/tokens/${encodeURIComponent(cmd.id!)}`, { method: 'DELETE', allow404: true })) as { revoked?: number; ids?: string[] };
  const revoked = body.revoked ?? 0;
  out.write(cmd.json ? `${JSON.stringify({ revoked, ids: body.ids ?? [] })}\n` : revoked ? `revoked token ${cmd.id}\n` : `no live service token ${cmd.id}\n`);
  return revoked ? 0 : 1;
}

function usageError(cmd: TokensCommand): string | undefined {
  if (cmd.action === 'create' && !cmd.serviceAccount) return 'tokens create needs --service-account NAME';
  if (cmd.action === 'revoke' && !cmd.id) return 'tokens revoke needs the token id (as tokens list shows it)';
  return undefined;
}

/** The admin API's own sentence for a refused mint (`ttl` above `max_ttl`, unknown account). */
function refusal(e: AdminApiError): string {
  // Unreachable, or the admin token refused: the message says where and what to do.
  if (e.status === 0 || e.status === 401 || e.status === 403) return e.message;
  const error = (e.body.error ?? e.body) as { detail?: unknown } | null;
  if (typeof error?.detail === 'string' && error.detail) return error.detail;
  if (e.status === 404) return 'no such service account in the running config';
  return e.message;
}

function tokenTable(tokens: PublicToken[], truncated: boolean): string {
  if (tokens.length === 0) return 'no live service tokens\n';
  const table = formatTable(['ID', 'SERVICE ACCOUNT', 'CREATED', 'LAST USED', 'EXPIRES'], tokens.map((t) => [t.id, t.service_account, t.created_at, t.last_used_at, t.expires_at]));
  return `${table}${tokens.length} token(s)${truncated ? ' (truncated)' : ''}\n`;
}
