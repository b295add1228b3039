import { spawn, type SpawnOptions } from 'node:child_process';
import { constants } from 'node:os';
import { CliError } from './cli-error.js';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** Why `cmd` did not start, with the shell's exit code (POSIX 2.8.2): 127 not found, 126 found but not executable. */
function cannotRun(cmd: string, e: NodeJS.ErrnoException): CliError {
  if (e.code === 'ENOENT') return new CliError(`cannot run ${cmd}: ${cmd.includes('/') ? 'no such file' : 'not found on PATH'}`, 127);
  return new CliError(`cannot run ${cmd}: ${e.code === 'EACCES' ? 'not executable (permission denied)' : e.message}`, 126);
}

/**
 * Runs a command to its end and returns its exit code (128 + signal number when a signal ended
 * it, as shells do). Signals sent to us are passed on, so Ctrl-C and `kill` reach the command
 * and we exit after it, with its code.
 * @throws CliError the command cannot be started: exit 127 not found, 126 not executable
 */
export async function runChild(cmd: string, args: string[], options: SpawnOptions, started?: () => void): Promise<number> {
  const child = spawn(cmd, args, options);
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of FORWARDED) process.on(s, forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (e: NodeJS.ErrnoException) => reject(cannotRun(cmd, e)));
      child.once('spawn', () => started?.());
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
    });
  } finally {
    for (const s of FORWARDED) process.off(s, forward);
  }
}
