/**
 * Gatehouse as a real child process (`node --import tsx proxy/main.ts serve --config FILE`), for
 * tests that need what only a process has: several instances sharing one store, a store that
 * dies underneath, a process that must not crash. The config is written as YAML into a
 * temporary directory (with `policies/` and any extra files such as IdP metadata); the JSON log
 * lines the process prints on stdout are kept for assertions. Stopped by its own pid only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort } from './free-port.js';

/** The repository root (this file is test/helpers/gatehouse-process.ts). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What to run. */
export interface GatehouseProcessSetup {
  /**
   * The whole config as it would be written in YAML. `server.listen` defaults to this process's
   * port, `server.public_url` to its own URL, `policies` to `['policies/*.yaml']`.
   */
  config: Record<string, unknown>;
  /** Policy files to write under `policies/` (name -> content as an object). Default: none. */
  policies?: Record<string, unknown>;
  /** Other files to write into the config dir first, e.g. `{ 'idp.xml': metadata }`. */
  files?: Record<string, string>;
  /** Listen on this port (e.g. when another instance's public_url must be known first). */
  port?: number;
  /** Longest wait for /.gatehouse/healthz to answer. Default 20 s. */
  startTimeoutMs?: number;
  /** A name for error messages (`A`, `B`...). */
  name?: string;
}

/** One parsed JSON log line. */
export type LogLine = Record<string, unknown>;

/** A running (or exited) Gatehouse process. */
export interface GatehouseProcess {
  name: string;
  url: string;
  port: number;
  pid: number;
  /** The temporary config directory (removed by stop()). */
  dir: string;
  /** Every JSON line printed on stdout so far, parsed. */
  readonly logs: readonly LogLine[];
  /** Raw stdout and stderr so far (for failure messages). */
  output(): string;
  /** Log lines matching `pred`. */
  find(pred: (l: LogLine) => boolean): LogLine[];
  /** Waits (bounded) until a line matching `pred` is logged; logs reach stdout in batches (250 ms). */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** The exit code, or null while running (or when killed by a signal). */
  readonly exitCode: number | null;
  /** The signal that ended it, or null. */
  readonly signal: NodeJS.Signals | null;
  /** True once the process has exited, for whatever reason. */
  readonly exited: boolean;
  /** True when it exited before stop() was called (a crash, as far as a test is concerned). */
  readonly exitedUnexpectedly: boolean;
  /** SIGTERM by pid, SIGKILL after 5 s; waits for the exit and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Children still running, killed by pid if the test process exits without stopping them. */
const live = new Set<number>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of live) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** Starts Gatehouse as a child process and resolves once /.gatehouse/healthz answers 200. */
export async function startGatehouseProcess(setup: GatehouseProcessSetup): Promise<GatehouseProcess> {
  const name = setup.name ?? 'gatehouse';
  const port = setup.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-proc-'));
  mkdirSync(join(dir, 'policies'));
  for (const [file, text] of Object.entries(setup.files ?? {})) writeFileSync(join(dir, file), text);
  for (const [file, content] of Object.entries(setup.policies ?? {})) writeFileSync(join(dir, 'policies', file), stringify(content));
  const server = (setup.config.server ?? {}) as Record<string, unknown>;
  const config = {
    ...setup.config,
    server: { listen: `127.0.0.1:${port}`, public_url: url, ...server },
    policies: setup.config.policies ?? ['policies/*.yaml'],
  };
  const configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(configFile, stringify(config));

  const env = { ...process.env };
  // The test runner's marker is for its own children, not for the program under test.
  delete env.NODE_TEST_CONTEXT;
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'proxy/main.ts', 'serve', '--config', configFile], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${name}: could not spawn ${process.execPath}`);
  }
  const pid = child.pid;
  installExitHook();
  live.add(pid);

  const logs: LogLine[] = [];
  let raw = '';
  let stderr = '';
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    raw += chunk;
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) !== -1) {
      const line = partial.slice(0, nl).trim();
      partial = partial.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        // not a log line (kept in `raw`)
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (stderr += chunk));

  let exitCode: number | null = null;
  let signal: NodeJS.Signals | null = null;
  let exited = false;
  let stopping = false;
  let exitedUnexpectedly = false;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, sig) => {
      exitCode = code;
      signal = sig;
      exited = true;
      if (!stopping) exitedUnexpectedly = true;
      live.delete(pid);
      resolve();
    });
  });
  const output = () => `--- ${name} stdout ---\n${tail(raw)}\n--- ${name} stderr ---\n${tail(stderr)}`;

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      if (!exited) {
        signalPid(pid, 'SIGTERM');
        const timer = setTimeout(() => {
          if (!exited) signalPid(pid, 'SIGKILL');
        }, 5_000);
        await exitedPromise;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const proc: GatehouseProcess = {
    name,
    url,
    port,
    pid,
    dir,
    logs,
    output,
    find: (pred) => logs.filter(pred),
    async waitForLog(pred, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = logs.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`${name}: no matching log line within ${timeoutMs} ms\n${output()}`);
        await sleep(50);
      }
    },
    get exitCode() {
      return exitCode;
    },
    get signal() {
      return signal;
    },
    get exited() {
      return exited;
    },
    get exitedUnexpectedly() {
      return exitedUnexpectedly;
    },
    stop,
  };

  try {
    await waitForHealth(proc, setup.startTimeoutMs ?? 20_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return proc;
}

async function waitForHealth(proc: GatehouseProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (proc.exited) {
      throw new Error(`${proc.name} exited before serving (code ${proc.exitCode}, signal ${proc.signal})\n${proc.output()}`);
    }
    try {
      const res = await fetch(`${proc.url}/.gatehouse/healthz`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `healthz answered ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${proc.name} did not answer /.gatehouse/healthz within ${timeoutMs} ms (${last})\n${proc.output()}`);
}

function signalPid(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function tail(text: string, max = 8_000): string {
  return text.length <= max ? text : `...${text.slice(-max)}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
