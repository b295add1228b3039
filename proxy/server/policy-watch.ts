import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { globSync } from 'tinyglobby';

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
  const matched = globs.flatMap((g) => globSync(g, { cwd: dir, absolute: true, onlyFiles: true }).sort());
  const files = [configFile, ...matched];
  const dirs = new Set(files.map((f) => dirname(f)));
  for (const g of globs) {
    const base = globBase(resolve(dir, g));
    dirs.add(base);
    // `**` reaches into sub-directories: watch each, so a file in a new one is seen too.
    if (g.includes('**')) for (const d of globSync('**', { cwd: base, absolute: true, onlyDirectories: true })) dirs.add(d.replace(/\/$/, ''));
  }
  return { files, dirs: [...dirs] };
}

/** One hash over the names and contents of the files (an unreadable file counts as such). */
export function fingerprint(files: readonly string[]): string {
  const h = createHash('sha256');
  for (const f of files) {
    h.update(f).update('\0');
    try {
      h.update(readFileSync(f)).update('\0');
    } catch (err) {
      h.update(`unreadable:${(err as NodeJS.ErrnoException).code ?? ''}\0`);
    }
  }
  return h.digest('base64');
}

/** The directory a glob starts from: `/etc/g/policies/*.yaml` -> `/etc/g/policies`. */
function globBase(pattern: string): string {
  const parts = pattern.split('/');
  const first = parts.findIndex((p) => /[*?[\]{}()!]/.test(p));
  return first === -1 ? dirname(pattern) : parts.slice(0, first).join('/') || '/';
}

/**
 * Watches directories, not files: editors and config-map updates replace a file by renaming a
 * new one over it, which a watch on the old file never reports. Any event in a watched
 * directory (re)starts a quiet period; `onSettled` runs once the burst is over (or after
 * `maxWaitMs` of continuous events), so one save is one call.
 */
export class DirWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | undefined;
  private burstStart = 0;
  private closed = false;

  constructor(
    private readonly onSettled: () => void,
    private readonly quietMs = 250,
    private readonly maxWaitMs = 2_000,
  ) {}

  /** Watches exactly these directories from now on; returns those that cannot be watched. */
  sync(dirs: readonly string[]): string[] {
    const want = new Set(dirs);
    for (const [d, w] of this.watchers) {
      if (!want.has(d)) this.unwatch(d, w);
    }
    const failed: string[] = [];
    for (const d of want) {
      if (this.closed || this.watchers.has(d)) continue;
      try {
        // Not persistent: a watcher alone never keeps the process running.
        const w = watch(d, { persistent: false }, () => this.poke());
        w.on('error', () => (this.unwatch(d, w), this.poke()));
        this.watchers.set(d, w);
      } catch {
        failed.push(d);
      }
    }
    return failed;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const [d, w] of this.watchers) this.unwatch(d, w);
  }

  private unwatch(dir: string, w: FSWatcher): void {
    w.close();
    this.watchers.delete(dir);
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
