import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** Resolves with the first stdout line of `child` parsed as JSON, or rejects if it exits first. */
export async function readReadyLine<T>(child: ChildProcess, timeoutMs = 15_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => fail(new Error(`child ${child.pid} not ready after ${timeoutMs} ms`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      cleanup();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as T);
      } catch (err) {
        reject(err as Error);
      }
    };
    const onExit = (code: number | null) => fail(new Error(`child exited (code ${code}) before it was ready`));
    const fail = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * Stops a child we started, by its pid only: `signal` first, then SIGTERM and SIGKILL, each
 * after `graceMs`. Resolves when it has exited.
 */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  const steps = [...new Set<NodeJS.Signals>([signal, 'SIGTERM', 'SIGKILL'])];
  child.kill(steps[0]);
  let i = 1;
  const timer = setInterval(() => {
    if (i < steps.length) child.kill(steps[i++]);
  }, graceMs);
  await exited;
  clearInterval(timer);
}
