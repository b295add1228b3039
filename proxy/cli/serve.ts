import { loadConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/problems.js';
import { createLogger } from '../log.js';
import { Gatehouse } from '../server/app.js';

/** `gatehouse serve --config FILE`: runs until SIGINT/SIGTERM, then drains and exits; SIGHUP reloads the policies. */
export async function runServe(file: string): Promise<number> {
  // SIGHUP reloads the policies (a failed reload is logged and the old policy keeps serving).
  // Handled from the first moment, so an early one never ends the process; one that comes
  // before Gatehouse serves is kept, and applied once it does: the files may have changed since
  // they were read, and a dropped signal would leave the old policy serving unannounced.
  let app: Gatehouse | undefined;
  let hupWhileStarting = false;
  const reload = () => (app ? void app.reload() : (hupWhileStarting = true));
  process.on('SIGHUP', reload);
  let loaded;
  try {
    loaded = loadConfig(file);
  } catch (e) {
    process.off('SIGHUP', reload);
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
  process.on('uncaughtException', (err) => {
    app?.context.requests.flush();
    log.fatal({ event: 'error', code: 'INTERNAL', err }, 'uncaught exception; exiting');
    log.flush();
    process.exit(70);
  });
  // Before the log destination's own exit flush, so the last request records are not lost.
  process.prependListener('exit', () => app?.context.requests.flush());
  app = await Gatehouse.start({ loaded, log });
  if (hupWhileStarting) void app.reload();
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
