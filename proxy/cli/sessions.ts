import { systemClock } from '../clock.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/problems.js';
import { createLogger } from '../log.js';
import { RedisSessionStore } from '../session/redis-session-store.js';
import { publicSession, SessionAdmin, type PublicSession } from '../session/session-admin.js';
import { SessionKeys } from '../session/session-keys.js';
import { redisSettings } from '../store/open-stores.js';
import { RedisConnection } from '../store/redis-connection.js';
import { callAdmin, resolveAdminTarget } from './admin-client.js';
import { formatTable } from './table.js';

/** What `gatehouse sessions` was asked. */
export interface SessionsCommand {
  action: 'list' | 'revoke';
  email?: string;
  id?: string;
  json: boolean;
}

/** What both ways of reaching sessions (Redis directly, or a running instance's admin API) offer. */
interface SessionsBackend {
  list(email?: string): Promise<{ sessions: PublicSession[]; truncated: boolean }>;
  revoke(target: { email: string } | { id: string }): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * `gatehouse sessions list [--email E]` and `gatehouse sessions revoke --email E | --id ID`.
 * With a Redis store the command talks to Redis itself (it works with every instance down);
 * with the memory store sessions live inside the running process, so it asks that process's
 * admin API on `server.listen` with `admin.token`. Revocations reach every instance at once.
 */
export async function runSessions(file: string, cmd: SessionsCommand): Promise<number> {
  if (cmd.action === 'revoke' && (cmd.email === undefined) === (cmd.id === undefined)) {
    process.stderr.write('gatehouse: sessions revoke needs exactly one of --email E or --id ID\n');
    return 2;
  }
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) process.stderr.write(`${formatProblem(p)}\n`);
    return 1;
  }
  let backend: SessionsBackend | string;
  try {
    backend = await openBackend(loaded);
  } catch (err) {
    // Unreachable store or instance: one line saying where and why, no stack trace.
    process.stderr.write(`gatehouse: ${(err as Error).message}\n`);
    return 1;
  }
  if (typeof backend === 'string') {
    process.stderr.write(`gatehouse: ${backend}\n`);
    return 2;
  }
  try {
    if (cmd.action === 'list') {
      const { sessions, truncated } = await backend.list(cmd.email);
      process.stdout.write(cmd.json ? `${JSON.stringify({ sessions, truncated }, null, 2)}\n` : sessionTable(sessions, truncated));
      return 0;
    }
    const revoked = await backend.revoke(cmd.email !== undefined ? { email: cmd.email } : { id: cmd.id! });
    process.stdout.write(cmd.json ? `${JSON.stringify({ revoked: revoked.length, ids: revoked })}\n` : `revoked ${revoked.length} session(s)${revoked.length ? `: ${revoked.join(' ')}` : ''}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`gatehouse: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await backend.close();
  }
}

async function openBackend(loaded: LoadedConfig): Promise<SessionsBackend | string> {
  const { config } = loaded;
  const redis = redisSettings(config.session, loaded.dir);
  if (redis) {
    if (config.session.secret === undefined) return 'session.secret is not set: sessions sealed under a random demo secret cannot be read';
    const conn = await RedisConnection.open(redis, createLogger('silent'));
    const admin = new SessionAdmin(await RedisSessionStore.open(conn), new SessionKeys([config.session.secret, ...config.session.previous_secrets]), systemClock);
    return {
      list: async (email) => {
        const r = await admin.list(email);
        return { sessions: r.sessions.map(publicSession), truncated: r.truncated };
      },
      revoke: async (t) => ('email' in t ? admin.revokeUser(t.email) : admin.revokeId(t.id)).then((r) => r.revoked),
      close: () => conn.close(),
    };
  }
  const target = resolveAdminTarget({}, () => config);
  if (typeof target === 'string') return 'the memory store keeps sessions inside the running Gatehouse: set admin.token so this command can use its admin API (or use a Redis store)';
  const call = (path: string, init: { method?: string; body?: unknown } = {}) => callAdmin(target, path, { ...init, allow404: true });
  return {
    list: async (email) => (await call(`sessions${email ? `?email=${encodeURIComponent(email)}` : ''}`)) as unknown as { sessions: PublicSession[]; truncated: boolean },
    revoke: async (t) => ((await call('sessions/revoke', { method: 'POST', body: t })).ids as string[] | undefined) ?? [],
    close: async () => {},
  };
}

function sessionTable(sessions: PublicSession[], truncated: boolean): string {
  if (sessions.length === 0) return 'no live sessions\n';
  const table = formatTable(['ID', 'USER', 'EMAIL', 'CONNECTION', 'CLIENT', 'SIGNED IN', 'LAST SEEN', 'ENDS'], sessions.map((s) => [s.id, s.user, s.email ?? '-', s.connection, s.client ?? 'browser', s.created_at, s.last_seen_at, s.expires_at]));
  return `${table}${sessions.length} session(s)${truncated ? ' (truncated)' : ''}\n`;
}
