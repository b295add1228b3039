import { spawn } from 'node:child_process';

/**
 * The command that opens `url` in the user's browser, or undefined when there is none to use:
 * `GATEHOUSE_BROWSER=none`, or Linux/BSD without a display. `GATEHOUSE_BROWSER` (a command)
 * then `$BROWSER` (first of a `:` list, `%s` replaced by the URL) come before the system opener.
 */
export function browserCommand(url: string, env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): { cmd: string; args: string[] } | undefined {
  if (env.GATEHOUSE_BROWSER === 'none') return undefined;
  const chosen = env.GATEHOUSE_BROWSER || env.BROWSER?.split(':')[0];
  if (chosen) {
    const words = chosen.trim().split(/\s+/);
    const args = words.slice(1).map((w) => w.replace('%s', url));
    if (!chosen.includes('%s')) args.push(url);
    return { cmd: words[0]!, args };
  }
  if (platform === 'darwin') return { cmd: 'open', args: [url] };
  if (platform === 'win32') return { cmd: 'rundll32', args: ['url.dll,FileProtocolHandler', url] };
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return undefined;
  return { cmd: 'xdg-open', args: [url] };
}

/** Starts the browser, detached and silent. False when there is no browser to start. */
export function openBrowser(url: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const c = browserCommand(url, env);
  if (!c) return false;
  try {
    const child = spawn(c.cmd, c.args, { detached: true, stdio: 'ignore' });
    child.once('error', () => undefined);
    child.unref();
    return true;
  } catch {
    return false;
  }
}

/** True on a machine reached over SSH with no display: the browser is on another computer. */
export function isHeadless(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.SSH_CONNECTION || env.SSH_TTY) && !env.DISPLAY && !env.WAYLAND_DISPLAY;
}
