import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { demoLogin } from '../../test/helpers/demo-login.js';
import { freePort, waitForPort } from './free-port.js';

const MAIN = fileURLToPath(new URL('../../dist/proxy/main.js', import.meta.url));

/** Gatehouse running as its own process (the built dist/, as `gatehouse serve` runs it). */
export interface GatehouseProcess {
  url: string;
  pid: number;
  /** Cookie header of a signed-in user whose group the benchmark route requires. */
  cookie: string;
  /** Cookie headers of `sessions` separate sign-ins (the first is `cookie`). */
  cookies: string[];
  stop(): Promise<void>;
}

/** Options of {@link startGatehouseProcess}; defaults in brackets. */
export interface GatehouseProcessOptions {
  /** `server.upstream_client` [auto]. */
  upstreamClient?: 'auto' | 'undici';
  /** Access lines and decision records [on]. */
  requestLogs?: boolean;
  /** Replaces the config's `session:` block [{ store: memory }]. */
  session?: Record<string, unknown>;
  /** Separate sign-ins of the demo user [1]. */
  sessions?: number;
  /** More top-level config blocks (`tokens`, `service_accounts`, ...), set as given [none]. */
  config?: Record<string, unknown>;
  /** More policy routes beside the `bench` route on `/` (the most specific route wins) [none]. */
  routes?: Record<string, unknown>[];
  /** `admin.token`, written to a 0600 file beside the config and read through `admin.token_file` [no admin API]. */
  adminToken?: string;
}

/**
 * Starts `node dist/proxy/main.js serve` on a free loopback port in front of `upstreamUrl`, with
 * memory sessions, access and decision logs on unless `requestLogs: false` (written to /dev/null:
 * the cost of producing them counts) and one route that requires a group. Signs in through the demo IdP to get a session:
 * the benchmark measures authenticated requests, policy check included. `session` replaces the
 * config's `session:` block (e.g. `{ store: 'redis://127.0.0.1:6400', cache: { ttl: '0s' } }`).
 */
export async function startGatehouseProcess(upstreamUrl: string, opts: GatehouseProcessOptions = {}): Promise<GatehouseProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  mkdirSync(join(dir, 'policies'));
  if (opts.adminToken !== undefined) writeFileSync(join(dir, 'admin-token'), `${opts.adminToken}\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, 'gatehouse.yaml'),
    stringify({
      demo: true,
      server: { listen: `127.0.0.1:${port}`, public_url: `http://127.0.0.1:${port}`, upstream_client: opts.upstreamClient ?? 'auto' },
      log: opts.requestLogs === false ? { access: false, decisions: 'none' } : { access: true, decisions: 'all' },
      session: opts.session ?? { store: 'memory' },
      saml: { connections: [{ id: 'demo', demo_idp: { users: [{ name: 'bench', email: 'bench@example.com', groups: ['ml-engineers'] }] } }] },
      policies: ['policies/*.yaml'],
      ...(opts.adminToken !== undefined ? { admin: { token_file: 'admin-token' } } : {}),
      ...opts.config,
    }),
  );
  writeFileSync(join(dir, 'policies', 'bench.yaml'), stringify({ routes: [{ name: 'bench', path: '/', upstream: upstreamUrl, allow: [{ groups: ['ml-engineers'] }] }, ...(opts.routes ?? [])] }));
  const child: ChildProcess = spawn(process.execPath, [MAIN, 'serve', '--config', join(dir, 'gatehouse.yaml')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, '127.0.0.1', 15_000);
    const url = `http://127.0.0.1:${port}`;
    const cookies: string[] = [];
    for (let i = 0; i < (opts.sessions ?? 1); i++) cookies.push(`gatehouse_session=${(await demoLogin(url, 'bench')).get('gatehouse_session')}`);
    return { url, pid: child.pid!, cookie: cookies[0]!, cookies, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
