#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { runCheck } from './cli/check.js';
import { runServe } from './cli/serve.js';

const USAGE = `usage: gatehouse <command> [options]

commands:
  serve --config FILE   run the proxy
  check --config FILE   validate the config and every policy file (exit 1 on problems)

options:
  -c, --config FILE     config file (default: $GATEHOUSE_CONFIG or ./gatehouse.yaml)
  -h, --help            show this help
`;

/** Process entry: argv -> command. */
async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
  });
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const config = values.config ?? process.env.GATEHOUSE_CONFIG ?? 'gatehouse.yaml';
  if (command === 'serve') return runServe(config);
  if (command === 'check') return runCheck(config);
  process.stderr.write(`gatehouse: unknown command "${command}"\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`gatehouse: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
