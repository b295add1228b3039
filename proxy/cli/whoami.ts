import { PATHS } from '../server/endpoints/paths.js';
import { printable } from './printable.js';
import { CliError } from './cli-error.js';
import { freshAccessToken, signedIn, type SignedIn } from './fresh-token.js';

/** What `/.gatehouse/userinfo` answers (the fields `whoami` prints). */
interface Userinfo {
  user: string;
  email?: string | null;
  groups?: string[];
  connection?: string;
  client?: 'browser' | 'cli' | 'service';
  expires_at?: string;
}

const TIMEOUT_MS = 30_000;

/**
 * `gatehouse whoami [--host URL] [--json]`: asks the issuer's `/.gatehouse/userinfo` with a fresh
 * access token who this terminal acts as. Prints user, email, groups, connection, client and the
 * session's end; `--json` prints the answer as served. The token goes to the issuer only.
 * @throws CliError not signed in, the session ended (run gatehouse login), Gatehouse unreachable
 */
export async function runWhoami(o: { host?: string; json?: boolean; env?: NodeJS.ProcessEnv; out?: NodeJS.WritableStream }): Promise<number> {
  const s = signedIn(o.host, o.env);
  const { token } = await freshAccessToken(s);
  const text = await fetchUserinfo(s, token);
  const out = o.out ?? process.stdout;
  if (o.json) {
    out.write(`${text}\n`);
    return 0;
  }
  const info = JSON.parse(text) as Userinfo;
  const rows: [string, string][] = [
    ['user', info.user],
    ['email', info.email ?? '-'],
    ['groups', info.groups?.length ? info.groups.join(', ') : '-'],
    ['connection', info.connection ?? '-'],
    ['client', info.client ?? '-'],
    ['session end', info.expires_at ?? '-'],
  ];
  for (const [k, v] of rows) out.write(`${k.padEnd(12)}${printable(String(v))}\n`);
  return 0;
}

/** The userinfo answer as served (checked to be a JSON object). Never puts the token in an error. */
async function fetchUserinfo(s: SignedIn, token: string): Promise<string> {
  const url = new URL(PATHS.userinfo, s.issuer).href;
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) }).catch((e: Error) => {
    throw new CliError(`cannot reach ${url}: ${e.cause instanceof Error ? e.cause.message : e.message}`);
  });
  const text = await res.text();
  const body = parseObject(text);
  if (res.status === 200 && typeof body?.user === 'string') return text;
  const code = (body?.error as { code?: unknown } | undefined)?.code;
  // The stored access token may outlive its session (revoked elsewhere, signed out in the browser).
  if (code === 'TOKEN_INVALID') throw new CliError(`your Gatehouse session at ${s.issuer} has ended: run gatehouse login ${s.issuer}`);
  if (res.status === 401) throw new CliError(`${url} does not take Gatehouse tokens (a Gatehouse older than whoami?)`);
  throw new CliError(`${url} answered ${res.status}${typeof code === 'string' ? ` ${code}` : ''}`);
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
