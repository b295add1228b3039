import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readReadyLine, stopChild } from './child.js';

/** Options of {@link startEchoUpstream}; defaults in brackets. */
export interface EchoUpstreamOptions {
  /** Port on 127.0.0.1 [0: any free port]. */
  port?: number;
  /** Size of the fixed 200 response body [100]. */
  bodyBytes?: number;
}

/** A running echo upstream. */
export interface EchoUpstream {
  url: string;
  port: number;
  /** Pid of the child process serving it (for CPU accounting). */
  pid?: number;
  stop(): Promise<void>;
}

const MAIN = fileURLToPath(new URL('./echo-upstream-main.ts', import.meta.url));
/** The repository root: `--import tsx` is resolved from the child's working directory. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Starts the echo upstream in its own Node process (`node --import tsx echo-upstream-main.ts`),
 * so it never shares an event loop with the proxy under test. Every request gets 200 and a fixed
 * body over keep-alive.
 */
export async function startEchoUpstream(options: EchoUpstreamOptions = {}): Promise<EchoUpstream> {
  const args = ['--import', 'tsx', MAIN, String(options.port ?? 0), String(options.bodyBytes ?? 100)];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const ready = await readReadyLine<{ port: number; pid: number }>(child).catch(async (err: Error) => {
    await stopChild(child, 'SIGKILL');
    throw err;
  });
  return {
    url: `http://127.0.0.1:${ready.port}/`,
    port: ready.port,
    pid: ready.pid,
    stop: () => stopChild(child),
  };
}
