import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { globSync } from 'tinyglobby';
import { FileDigest } from '../config/file-digest.js';

/** What a config reads for its policies, and the directories where changes to them appear. */
export interface PolicyInputs {
  /** The config file, then every policy file its globs match now (absolute paths). */
  files: string[];
  /** Directories holding those files, and the literal base directory of each glob. */
  dirs: string[];
}

/** The files and directories behind a config's policies, matched the way loadConfig does. */
export function policyInputs(configFile: string, globs: readonly string[]): PolicyInputs {
  const dir = dirname(configFile);
  const files = policyFiles(configFile, globs);
  const dirs = new Set(files.map((f) => dirname(f)));
  for (const g of globs) {
    const base = globBase(resolve(dir, g));
    dirs.add(base);
    // `**` reaches into sub-directories: watch each, so a file in a new one is seen too.
    if (g.includes('**')) for (const d of globSync('**', { cwd: base, absolute: true, onlyDirectories: true })) dirs.add(d.replace(/\/$/, ''));
  }
  return { files, dirs: [...dirs] };
}

/** The config file, then every file the globs match now, in the order loadConfig reads them. */
export function policyFiles(configFile: string, globs: readonly string[]): string[] {
  const dir = dirname(configFile);
  return [configFile, ...globs.flatMap((g) => globSync(g, { cwd: dir, absolute: true, onlyFiles: true }).sort())];
}

/**
 * One hash over the names and contents of the files (an unreadable file counts as such): equal
 * to `LoadedConfig.digest` when the files hold the bytes loadConfig parsed.
 */
export function fingerprint(files: readonly string[]): string {
  const d = new FileDigest();
  for (const f of files) {
    try {
      d.add(f, readFileSync(f));
    } catch (err) {
      d.addUnreadable(f, (err as NodeJS.ErrnoException).code ?? '');
    }
  }
  return d.value();
}

/** The directory a glob starts from: `/etc/g/policies/*.yaml` -> `/etc/g/policies`. */
function globBase(pattern: string): string {
  const parts = pattern.split('/');
  const first = parts.findIndex((p) => /[*?[\]{}()!]/.test(p));
  return first === -1 ? dirname(pattern) : parts.slice(0, first).join('/') || '/';
}

/** A directory's identity (`dev:ino`), or undefined when it is not there. */
function identity(dir: string): string | undefined {
  try {
    const st = statSync(dir, { bigint: true });
    return st.isDirectory() ? `${st.dev}:${st.ino}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Watches directories, not files: editors and config-map updates replace a file by renaming a
 * new one over it, which a watch on the old file never reports. A watch follows the directory
 * (inode), not its path, so a directory replaced by a rename (`mv policies.new policies`, a
 * config-map's `..data` swap) would go quiet: each watch remembers the `dev:ino` it was set on,
 * checked on every event and every `checkMs`, and is set again on the new directory when that
 * changed (which counts as an event). Any event in a watched directory (re)starts a quiet
 * period; `onSettled` runs once the burst is over (or after `maxWaitMs` of continuous events),
 * so one save is one call.
 */
export class DirWatcher {
  private readonly watchers = new Map<string, { w: FSWatcher; id: string }>();
  /** The directories asked for, watched or not (those that failed are retried on each check). */
  private wanted: readonly string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly checker: NodeJS.Timeout;
  private burstStart = 0;
  private closed = false;

  constructor(
    private readonly onSettled: () => void,
    private readonly quietMs = 250,
    private readonly maxWaitMs = 2_000,
    checkMs = 1_000,
  ) {
    this.checker = setInterval(() => this.recheck() && this.poke(), checkMs).unref();
  }

  /** Watches exactly these directories from now on; returns those that cannot be watched. */
  sync(dirs: readonly string[]): string[] {
    this.wanted = [...new Set(dirs)];
    for (const [d, { w }] of this.watchers) {
      if (!this.wanted.includes(d)) this.unwatch(d, w);
    }
    return this.wanted.filter((d) => this.ensure(d) === 'failed');
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.checker);
    for (const [d, { w }] of this.watchers) this.unwatch(d, w);
  }

  /** Watches again every wanted directory that was replaced or has appeared; true when any was. */
  private recheck(): boolean {
    let changed = false;
    for (const d of this.wanted) if (this.ensure(d) === 'new') changed = true;
    return changed;
  }

  /** Makes sure `dir` is watched on the directory now at that path; `new` when a watch was set. */
  private ensure(dir: string): 'same' | 'new' | 'failed' {
    if (this.closed) return 'same';
    // Identity before the watch: if the directory is swapped in between, the next check differs.
    const id = identity(dir);
    const had = this.watchers.get(dir);
    if (had && had.id === id) return 'same';
    if (had) this.unwatch(dir, had.w);
    if (id === undefined) return 'failed';
    try {
      // Not persistent: a watcher alone never keeps the process running.
      const w = watch(dir, { persistent: false }, () => (this.recheck(), this.poke()));
      w.on('error', () => (this.unwatch(dir, w), this.poke()));
      this.watchers.set(dir, { w, id });
    } catch {
      return 'failed';
    }
    return 'new';
  }

  private unwatch(dir: string, w: FSWatcher): void {
    w.close();
    if (this.watchers.get(dir)?.w === w) this.watchers.delete(dir);
  }

  private poke(): void {
    if (this.closed) return;
    const now = performance.now();
    if (this.timer === undefined) this.burstStart = now;
    clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.quietMs, this.burstStart + this.maxWaitMs - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onSettled();
    }, wait).unref();
  }
}
