import { loadConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/problems.js';
import { createLogger } from '../log.js';
import { Gatehouse } from '../server/app.js';

/** `gatehouse serve --config FILE`: runs until SIGINT/SIGTERM, then drains and exits; SIGHUP reloads the policies. */
export async function runServe(file: string): Promise<number> {
  let loaded;
  try {
    loaded = loadConfig(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) process.stderr.write(`${formatProblem(p)}\n`);
    process.stderr.write(`gatehouse: not started, ${e.problems.length} configuration problem(s)\n`);
    return 1;
  }
  const log = createLogger(loaded.config.log.level);
  if (loaded.config.demo) {
    log.warn({ event: 'demo-mode' }, 'DEMO MODE: built-in demo IdP and upstream, for local trial only. Never expose this.');
  }
  // A bug must not become a remote kill switch: a stray rejection is logged and serving goes on;
  // an uncaught exception may have left state half-changed, so that one exits (to be restarted).
  process.on('unhandledRejection', (err) => log.error({ event: 'error', code: 'INTERNAL', err }, 'unhandled rejection'));
  let app: Gatehouse | undefined;
  process.on('uncaughtException', (err) => {
    app?.context.requests.flush();
    log.fatal({ event: 'error', code: 'INTERNAL', err }, 'uncaught exception; exiting');
    log.flush();
    process.exit(70);
  });
  // Before the log destination's own exit flush, so the last request records are not lost.
  process.prependListener('exit', () => app?.context.requests.flush());
  // SIGHUP reloads the policies (a failed reload is logged and the old policy keeps serving);
  // handled from before the start, so an early one never ends the process.
  const reload = () => void app?.reload();
  process.on('SIGHUP', reload);
  app = await Gatehouse.start({ loaded, log });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.off('SIGHUP', reload);
  await app.stop();
  log.flush();
  return 0;
}
