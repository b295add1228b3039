import { loadConfig, type LoadedConfig } from '../config/load.js';
import { ConfigError, formatProblem, type ConfigProblem } from '../config/problems.js';
import { F } from '../log.js';
import type { AppContext } from './context.js';
import { restartKeys, routeChanges } from './policy-diff.js';
import { buildIdentityJwt, buildPolicyParts, logEphemeralKey, type PolicyStatus } from './policy-state.js';
import { DirWatcher, fingerprint, policyFiles, policyInputs } from './policy-watch.js';

/** Logged with every failed reload; the old policy keeps serving (see docs/policies.md). */
export const POLICY_RELOAD_FAILED = 'POLICY_RELOAD_FAILED';

/** The reloader's log events. */
export const RELOAD_EVENTS = {
  reloaded: 'policy-reloaded',
  failed: 'policy-reload-failed',
  restartNeeded: 'policy-reload-restart-needed',
  watchFailed: 'policy-watch-failed',
  afterReloadFailed: 'policy-after-reload-failed',
} as const;

/** Where the serving context lives: read it, replace it whole. */
export interface ContextCell {
  get(): AppContext;
  set(ctx: AppContext): void;
}

export interface ReloaderOptions {
  /** The config serving now (read at start). */
  loaded: LoadedConfig;
  /** Environment for `${VAR}` substitution: the one the config was first loaded with. */
  env: NodeJS.ProcessEnv;
  cell: ContextCell;
  /** Quiet time after the last file event before reloading; also the pause before a retry (default 250 ms). */
  debounceMs?: number;
  /** How long a watched change must read the same before it is loaded (default 1000 ms). */
  settleMs?: number;
  /** Called with the new context after each successful reload (open websockets are decided again). */
  onReloaded?: (ctx: AppContext) => void;
}

/** Attempts before a reload gives up on files that keep changing while read. */
const MAX_ATTEMPTS = 20;

/**
 * Reloads the route policies on file changes (`watch()`) and on demand (`reload()`, SIGHUP):
 * loads and validates everything again, then swaps the context whole, or keeps the old one on
 * any problem. One reload runs at a time; requests during it are coalesced into one more.
 * Requests in flight keep the context they started with.
 *
 * Only complete files are applied, as far as a reader can tell: a watched change must read the
 * same across `settleMs` (a writer pausing mid-file is seen still writing), and the bytes
 * loadConfig parsed must equal the files read just before and just after it (a write during
 * the load starts over after `debounceMs`). A writer pausing longer than that mid-file cannot be
 * told from a finished one: write by rename (docs/policies.md, "Reloading").
 */
export class PolicyReloader {
  private loaded: LoadedConfig;
  /**
   * Digest of the files as last loaded, good or bad; unchanged files are not reloaded. It starts
   * as the bytes loadConfig read at start, so an edit made while Gatehouse started is a change.
   */
  private lastSeen: string;
  private wanted: 'none' | 'if-changed' | 'always' = 'none';
  private running: Promise<void> | undefined;
  private watcher: DirWatcher | undefined;
  private closed = false;
  /** Ends the current pause early (on close). */
  private wake: (() => void) | undefined;

  constructor(private readonly opts: ReloaderOptions) {
    this.loaded = opts.loaded;
    this.lastSeen = opts.loaded.digest;
  }

  /**
   * Starts watching the config file, the policy files and the directories of the globs, and
   * looks once for changes made since the config was read.
   */
  watch(): void {
    this.watcher ??= new DirWatcher(() => void this.request('if-changed'), this.opts.debounceMs);
    this.syncWatch();
    void this.request('if-changed');
  }

  /** Reloads now (even if no file changed); resolves with the policy status afterwards. */
  reload(): Promise<PolicyStatus> {
    return this.request('always');
  }

  /** Stops watching and waits for a reload in progress. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    this.watcher?.close();
    this.watcher = undefined;
    await this.running;
  }

  private async request(kind: 'if-changed' | 'always'): Promise<PolicyStatus> {
    if (this.closed) return this.opts.cell.get().policy;
    if (kind === 'always' || this.wanted === 'none') this.wanted = kind;
    this.running ??= this.drain();
    await this.running;
    return this.opts.cell.get().policy;
  }

  private async drain(): Promise<void> {
    try {
      while (this.wanted !== 'none') {
        const force = this.wanted === 'always';
        this.wanted = 'none';
        await this.reloadOnce(force);
      }
    } finally {
      this.running = undefined;
    }
  }

  private async reloadOnce(force: boolean): Promise<void> {
    try {
      const next = await this.loadComplete(force);
      if (next) this.apply(next);
    } catch (err) {
      this.fail(err);
    } finally {
      if (this.watcher) this.syncWatch();
    }
  }

  /**
   * Loads the files once they read the same before, during and after loading (and, for a
   * watched change, across `settleMs` first); undefined when nothing changed or on close.
   * @throws ConfigError when the complete files have problems, or keep changing
   */
  private async loadComplete(force: boolean): Promise<LoadedConfig | undefined> {
    const { debounceMs = 250, settleMs = 1_000 } = this.opts;
    let globs = this.loaded.config.policies;
    let seen = this.read(globs);
    if (!force && seen === this.lastSeen) return undefined;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      if (!force || attempt > 1) {
        await this.pause(force ? debounceMs : settleMs);
        if (this.closed) return undefined;
        const again = this.read(globs);
        if (again !== seen) {
          seen = again;
          if (!force && seen === this.lastSeen) return undefined;
          continue;
        }
      }
      let next: LoadedConfig;
      try {
        next = loadConfig(this.loaded.file, this.opts.env);
      } catch (err) {
        // Problems of a file that changed meanwhile may be those of a half-written one.
        const now = this.read(globs);
        if (now !== seen) {
          seen = now;
          continue;
        }
        this.lastSeen = seen;
        throw err;
      }
      // New globs name other files: those are read again and must be as steady.
      const nextGlobs = next.config.policies;
      const after = this.read(nextGlobs);
      if (JSON.stringify(nextGlobs) !== JSON.stringify(globs)) {
        [globs, seen] = [nextGlobs, after];
        continue;
      }
      if (next.digest === seen && after === seen) {
        this.lastSeen = seen;
        return next;
      }
      seen = after;
    }
    throw new ConfigError([{ file: this.loaded.file, line: 0, key: '', message: `the files kept changing while being read (${MAX_ATTEMPTS} attempts); nothing was applied` }]);
  }

  /** Digest of the config file and the files `globs` match now (as loadConfig would read them). */
  private read(globs: readonly string[]): string {
    return fingerprint(policyFiles(this.loaded.file, globs));
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wake?.(), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private apply(next: LoadedConfig): void {
    const old = this.opts.cell.get();
    const parts = buildPolicyParts(next, old.cookies);
    // Keys reload with the policies (rotation); broken key files keep the old state whole.
    const identityJwt = buildIdentityJwt(next, parts.routes.routes, old.clock, old.identityJwt);
    old.pools.addMissing(parts.routes.routes.map((r) => r.upstreamOrigin));
    const policy: PolicyStatus = Object.freeze({ generation: old.policy.generation + 1, loadedAt: old.clock.now(), status: 'current' });
    this.opts.cell.set(Object.freeze({ ...old, ...parts, identityJwt, policy }));
    logEphemeralKey(old.log, identityJwt, old.identityJwt);
    const changes = routeChanges(this.loaded, next);
    this.loaded = next;
    old.log.info({ [F.event]: RELOAD_EVENTS.reloaded, generation: policy.generation, routes: parts.routes.routes.length, ...changes }, 'policy reloaded');
    const keys = restartKeys(old.config, next.config);
    if (keys.length) {
      old.log.warn({ [F.event]: RELOAD_EVENTS.restartNeeded, keys }, `only the policies were applied; changes to ${keys.join(', ')} need a restart`);
    }
    try {
      this.opts.onReloaded?.(this.opts.cell.get());
    } catch (err) {
      // Applied is applied: a failure after the swap must not report the reload as failed.
      old.log.error({ [F.event]: RELOAD_EVENTS.afterReloadFailed, [F.code]: 'INTERNAL', err }, 'after-reload step failed');
    }
  }

  private fail(err: unknown): void {
    const old = this.opts.cell.get();
    const problems = problemsOf(err, this.loaded.file);
    const policy: PolicyStatus = Object.freeze({ ...old.policy, status: 'stale', lastError: Object.freeze({ at: old.clock.now(), problems }) });
    this.opts.cell.set(Object.freeze({ ...old, policy }));
    old.log.error(
      { [F.event]: RELOAD_EVENTS.failed, [F.code]: POLICY_RELOAD_FAILED, generation: old.policy.generation, problems: problems.map(formatProblem), ...(err instanceof ConfigError ? {} : { err }) },
      `policy reload failed with ${problems.length} problem(s); generation ${old.policy.generation} keeps serving`,
    );
  }

  private inputs() {
    return policyInputs(this.loaded.file, this.loaded.config.policies);
  }

  private syncWatch(): void {
    let failed: string[];
    try {
      failed = this.watcher?.sync(this.inputs().dirs) ?? [];
    } catch (err) {
      failed = [`${(err as Error).message}`];
    }
    if (failed.length) this.opts.cell.get().log.warn({ [F.event]: RELOAD_EVENTS.watchFailed, dirs: failed }, 'cannot watch these directories; SIGHUP still reloads');
  }
}

/** Every problem of a ConfigError; anything else (a bug) as one problem on the config file. */
function problemsOf(err: unknown, file: string): ConfigProblem[] {
  if (err instanceof ConfigError) return err.problems;
  return [{ file, line: 0, key: '', message: `reload failed: ${err instanceof Error ? err.message : String(err)}` }];
}
