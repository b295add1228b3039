import { spawn, type SpawnOptions } from 'node:child_process';
import { constants } from 'node:os';
import { CliError } from './cli-error.js';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/**
 * Runs a command to its end and returns its exit code (128 + signal number when a signal ended
 * it, as shells do). Signals sent to us are passed on, so Ctrl-C and `kill` reach the command
 * and we exit after it, with its code.
 * @throws CliError the command cannot be started (not found, not executable)
 */
export async function runChild(cmd: string, args: string[], options: SpawnOptions, started?: () => void): Promise<number> {
  const child = spawn(cmd, args, options);
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of FORWARDED) process.on(s, forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (e: NodeJS.ErrnoException) => reject(new CliError(`cannot run ${cmd}: ${e.code === 'ENOENT' ? 'not found on PATH' : e.message}`)));
      child.once('spawn', () => started?.());
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
    });
  } finally {
    for (const s of FORWARDED) process.off(s, forward);
  }
}
