import { loadConfig, type LoadedConfig } from '../config/load.js';
import { ConfigError, formatProblem, type ConfigProblem } from '../config/problems.js';
import { F } from '../log.js';
import type { AppContext } from './context.js';
import { restartKeys, routeChanges } from './policy-diff.js';
import { buildPolicyParts, type PolicyStatus } from './policy-state.js';
import { DirWatcher, fingerprint, policyInputs } from './policy-watch.js';

/** Logged with every failed reload; the old policy keeps serving (see docs/policies.md). */
export const POLICY_RELOAD_FAILED = 'POLICY_RELOAD_FAILED';

/** The reloader's log events. */
export const RELOAD_EVENTS = {
  reloaded: 'policy-reloaded',
  failed: 'policy-reload-failed',
  restartNeeded: 'policy-reload-restart-needed',
  watchFailed: 'policy-watch-failed',
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
  /** Quiet time after the last file event before reloading. */
  debounceMs?: number;
}

/**
 * Reloads the route policies on file changes (`watch()`) and on demand (`reload()`, SIGHUP):
 * loads and validates everything again, then swaps the context whole, or keeps the old one on
 * any problem. One reload runs at a time; requests during it are coalesced into one more.
 * Requests in flight keep the context they started with.
 */
export class PolicyReloader {
  private loaded: LoadedConfig;
  /** Fingerprint of the files as last read, good or bad; unchanged files are not reloaded. */
  private lastSeen: string;
  private wanted: 'none' | 'if-changed' | 'always' = 'none';
  private running: Promise<void> | undefined;
  private watcher: DirWatcher | undefined;
  private closed = false;

  constructor(private readonly opts: ReloaderOptions) {
    this.loaded = opts.loaded;
    this.lastSeen = fingerprint(this.inputs().files);
  }

  /** Starts watching the config file, the policy files and the directories of the globs. */
  watch(): void {
    this.watcher ??= new DirWatcher(() => void this.request('if-changed'), this.opts.debounceMs);
    this.syncWatch();
  }

  /** Reloads now (even if no file changed); resolves with the policy status afterwards. */
  reload(): Promise<PolicyStatus> {
    return this.request('always');
  }

  /** Stops watching and waits for a reload in progress. */
  async close(): Promise<void> {
    this.closed = true;
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
      const seen = fingerprint(this.inputs().files);
      if (!force && seen === this.lastSeen) return;
      this.lastSeen = seen;
      const next = loadConfig(this.loaded.file, this.opts.env);
      // New globs match other files: the next event must compare against those, so reload then.
      if (JSON.stringify(next.config.policies) !== JSON.stringify(this.loaded.config.policies)) this.lastSeen = '';
      this.apply(next);
    } catch (err) {
      this.fail(err);
    } finally {
      if (this.watcher) this.syncWatch();
    }
  }

  private apply(next: LoadedConfig): void {
    const old = this.opts.cell.get();
    const parts = buildPolicyParts(next, old.cookies);
    old.pools.addMissing(parts.routes.routes.map((r) => r.upstreamOrigin));
    const policy: PolicyStatus = Object.freeze({ generation: old.policy.generation + 1, loadedAt: old.clock.now(), status: 'current' });
    this.opts.cell.set(Object.freeze({ ...old, ...parts, policy }));
    const changes = routeChanges(this.loaded, next);
    this.loaded = next;
    old.log.info({ [F.event]: RELOAD_EVENTS.reloaded, generation: policy.generation, routes: parts.routes.routes.length, ...changes }, 'policy reloaded');
    const keys = restartKeys(old.config, next.config);
    if (keys.length) {
      old.log.warn({ [F.event]: RELOAD_EVENTS.restartNeeded, keys }, `only the policies were applied; changes to ${keys.join(', ')} need a restart`);
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
