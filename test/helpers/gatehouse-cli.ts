/**
 * The real `gatehouse` CLI as a child process (`node --import tsx proxy/main.ts …`), for tests of
 * the client commands: its config dir is a temp dir (GATEHOUSE_CONFIG_DIR) and it never opens a
 * browser (GATEHOUSE_BROWSER=none: it prints the authorize URL on a line of its own). Stopped by
 * its own pid only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CookieJar, jarFetch } from './cookie-jar.js';
import { hiddenInput } from './demo-login.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A temp config dir for one test's credentials. */
export function tempConfigDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'gatehouse-cli-')), 'gatehouse');
}

/** The environment of a CLI under test: no browser, no display, no SSH, this config dir. */
export function cliEnv(configDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GATEHOUSE_CONFIG_DIR: configDir, GATEHOUSE_BROWSER: 'none', ...extra };
  for (const k of ['DISPLAY', 'WAYLAND_DISPLAY', 'SSH_CONNECTION', 'SSH_TTY', 'BROWSER']) if (!(k in extra)) delete env[k];
  return env;
}

/** A running (or finished) CLI. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching `re` (bounded). */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when it exited: its code (or 128+signal). */
  exited: Promise<number>;
}

/** Starts `gatehouse ARGS…` with `env`. */
export function startCli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'proxy/main.ts'), ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    for (const w of waiters.splice(0)) w();
  });
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    line(re, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no stdout line matching ${re} within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`)), timeoutMs);
        const look = () => {
          const found = out.split('\n').find((l) => re.test(l));
          if (found !== undefined) {
            clearTimeout(timer);
            return resolve(found);
          }
          if (child.exitCode !== null) {
            clearTimeout(timer);
            return reject(new Error(`exited ${child.exitCode} before printing ${re}; stdout: ${out}; stderr: ${err}`));
          }
          waiters.push(look);
        };
        child.once('exit', () => setTimeout(look, 50));
        look();
      });
    },
  };
}

/** Runs `gatehouse ARGS…` to its end (bounded); stdin gets `input` when given. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv, o: { input?: string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = startCli(args, env);
  p.child.stdin!.end(o.input ?? '');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), o.timeoutMs ?? 90_000);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** The authorize URL a login printed (the line that starts with http). */
export async function authorizeUrlOf(p: CliProcess): Promise<string> {
  return (await p.line(/^https?:\/\/\S+\/\.gatehouse\/cli\/authorize\?/)).trim();
}

/**
 * The browser's part of a CLI login for the signed-in cookie `jar`: open the confirm page at
 * `url`, post its form with Allow or Deny (as the page's buttons do). Returns the POST's answer
 * (303 to the loopback listener, or the page showing the code).
 */
export async function confirmInBrowser(base: string, jar: CookieJar, url: string, decision: 'allow' | 'deny' = 'allow'): Promise<Response> {
  const page = await jarFetch(jar, url, { headers: { accept: 'text/html' } });
  const html = await page.text();
  if (page.status !== 200) throw new Error(`confirm page answered ${page.status}: ${html}`);
  const form = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) form.set(m[1]!, hiddenInput(html, m[1]!) ?? '');
  form.set('decision', decision);
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error('confirm page has no form');
  return jarFetch(jar, new URL(action, base).href, { method: 'POST', body: form, headers: { accept: 'text/html', origin: base, 'sec-fetch-site': 'same-origin' } });
}
