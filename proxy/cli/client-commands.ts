import { parseArgs } from 'node:util';
import { CliError } from './cli-error.js';
import { runCurl } from './curl.js';
import { runExec } from './exec.js';
import { runLogin } from './login.js';
import { runLogout } from './logout.js';
import { runToken } from './token.js';
import { runTunnel } from './tunnel.js';
import { runWhoami } from './whoami.js';

/** The commands of a user at a terminal (docs/cli.md), as opposed to the operator's. */
export const CLIENT_COMMANDS = new Set(['login', 'token', 'logout', 'curl', 'exec', 'tunnel', 'whoami']);

function usage(text: string): never {
  throw new CliError(`usage: gatehouse ${text}`, 2);
}

/** `--host URL` / `--host=URL` at the front of `args` (curl's own options follow). */
function leadingHost(args: string[]): { host?: string; rest: string[] } {
  if (args[0] === '--host' && args[1] !== undefined) return { host: args[1], rest: args.slice(2) };
  if (args[0]?.startsWith('--host=')) return { host: args[0].slice('--host='.length), rest: args.slice(1) };
  return { rest: args };
}

async function dispatch(command: string, args: string[]): Promise<number> {
  if (command === 'curl') {
    const { host, rest } = leadingHost(args);
    return runCurl({ host, args: rest });
  }
  if (command === 'exec') {
    const dash = args.indexOf('--');
    if (dash < 0) usage('exec [--host URL] [--env NAME]... -- CMD ARGS...');
    const { values } = parseArgs({ args: args.slice(0, dash), options: { host: { type: 'string' }, env: { type: 'string', multiple: true } } });
    return runExec({ host: values.host, envNames: values.env ?? [], command: args.slice(dash + 1) });
  }
  if (command === 'whoami') {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { host: { type: 'string' }, json: { type: 'boolean' } } });
    if (positionals.length !== 0) usage('whoami [--host URL] [--json]');
    return runWhoami({ host: values.host, json: values.json === true });
  }
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { host: { type: 'string' }, 'no-browser': { type: 'boolean' }, listen: { type: 'string' } } });
  if (command === 'login') {
    if (positionals.length !== 1) usage('login URL [--no-browser]');
    return runLogin({ url: positionals[0]!, noBrowser: values['no-browser'] === true });
  }
  if (command === 'tunnel') {
    if (positionals.length !== 1) usage('tunnel [--listen 127.0.0.1:8501] URL');
    return runTunnel({ listen: values.listen, url: positionals[0]! });
  }
  if (positionals.length !== 0) usage(`${command} [--host URL]`);
  return command === 'token' ? runToken({ host: values.host }) : runLogout({ host: values.host });
}

/** Runs one client command; a CliError becomes one line on stderr and its exit code. */
export async function runClientCommand(command: string, args: string[]): Promise<number> {
  try {
    return await dispatch(command, args);
  } catch (e) {
    if (e instanceof CliError) {
      process.stderr.write(`gatehouse ${command}: ${e.message}\n`);
      return e.exitCode;
    }
    if ((e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`gatehouse ${command}: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
}
