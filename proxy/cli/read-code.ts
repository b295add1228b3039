import { createInterface } from 'node:readline';
import { CliError } from './cli-error.js';

/**
 * Asks for the code the browser shows (headless sign-in) and reads one line from `input`.
 * Spaces are dropped (the page shows the code in groups); an empty line asks again.
 */
export async function readCode(input: NodeJS.ReadableStream, out: NodeJS.WritableStream, timeoutMs: number): Promise<string> {
  const rl = createInterface({ input, terminal: false });
  const lines = rl[Symbol.asyncIterator]();
  const timeout = new Promise<never>((_, reject) => {
    const t = setTimeout(() => reject(new CliError(`no code entered within ${Math.round(timeoutMs / 1000)} s; run gatehouse login again`)), timeoutMs);
    t.unref();
  });
  try {
    for (;;) {
      out.write('Enter the code shown in the browser: ');
      const next = await Promise.race([lines.next(), timeout]);
      if (next.done) throw new CliError('no code entered (end of input)');
      const code = String(next.value).replace(/\s+/g, '');
      if (code) return code;
    }
  } finally {
    rl.close();
  }
}
