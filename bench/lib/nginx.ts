import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild } from './child.js';
import { freePort, waitForPort } from './free-port.js';

/** True when an `nginx` binary is on PATH. */
export function nginxAvailable(): boolean {
  return spawnSync('nginx', ['-v'], { stdio: 'ignore' }).status === 0;
}

/** Options of {@link startNginx}; defaults in brackets. */
export interface NginxOptions {
  upstreamPort: number;
  /** Listen port on 127.0.0.1 [a free port]. */
  port?: number;
  /**
   * `worker_processes` [1]. One worker is the fair default on a small shared box: it is the
   * faster of the two when the load generator and the upstream share the same 2 cores, so it is
   * the stronger baseline, and it matches one Gatehouse process. 'auto' (one per core) is there
   * to compare with a clustered Gatehouse.
   */
  workers?: number | 'auto';
  /** Extra request headers nginx adds, like the ones Gatehouse injects [X-Forwarded-*]. */
  addHeaders?: Record<string, string>;
}

/** A running private nginx instance. */
export interface Nginx {
  url: string;
  port: number;
  /** Master pid; its workers are its children (see processTree). */
  pid: number;
  stop(): Promise<void>;
}

const DEFAULT_HEADERS: Record<string, string> = {
  'X-Forwarded-For': '$remote_addr',
  'X-Forwarded-Proto': '$scheme',
  'X-Forwarded-Host': '$host',
};

/** The nginx.conf of a plain keep-alive reverse proxy to 127.0.0.1:upstreamPort. */
export function nginxConfig(dir: string, port: number, o: NginxOptions): string {
  const headers = Object.entries({ ...DEFAULT_HEADERS, ...o.addHeaders })
    .map(([k, v]) => `      proxy_set_header ${k} "${v}";`)
    .join('\n');
  return `worker_processes ${o.workers ?? 1};
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream bench_upstream {
    server 127.0.0.1:${o.upstreamPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
${headers}
    }
  }
}
`;
}

/**
 * Starts a private nginx (own prefix in a fresh temp dir, `daemon off`, access log off) proxying
 * to the upstream with a keep-alive pool of 64. Stopped by its own pid only (SIGQUIT: graceful).
 */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-nginx-'));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, port, options));
  const child = spawn('nginx', ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const stop = async () => {
    await stopChild(child, 'SIGQUIT');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      waitForPort(port),
      new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`nginx exited with ${code}; see ${dir}/error.log`)))),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `http://127.0.0.1:${port}/`, port, pid: child.pid ?? 0, stop };
}
