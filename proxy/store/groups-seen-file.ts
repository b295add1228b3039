import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import type { Clock } from '../clock.js';
import { F, type Logger } from '../log.js';
import { GroupsSeenSet, MAX_GROUPS_SEEN, parseGroupsSeen, type GroupsSeen, type GroupsSeenRecord } from '../policy/groups-seen.js';
import type { Identity } from '../policy/types.js';

/** Log events of the groups-seen file. */
export const GROUPS_SEEN_EVENTS = {
  loadFailed: 'groups-seen-load-failed',
  writeFailed: 'groups-seen-write-failed',
} as const;

export interface GroupsSeenFileOptions {
  clock: Clock;
  log: Logger;
  /** Longest time a change waits before it is written; writes happen at most this often. */
  flushMs?: number;
  max?: number;
}

/**
 * The groups-seen record persisted to a JSON file: loaded at start (a missing file starts an
 * empty record; an unreadable or corrupt one is logged and replaced, never fatal), written
 * atomically (temp file, mode 0600, then rename) at most every `flushMs` when changed, and on close.
 */
export class GroupsSeenFile implements GroupsSeen {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private written: number;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly set: GroupsSeenSet,
    private readonly opts: GroupsSeenFileOptions,
  ) {
    this.written = set.changes;
  }

  /** Opens the record at `path` (absolute). */
  static async open(path: string, opts: GroupsSeenFileOptions): Promise<GroupsSeenFile> {
    let from: GroupsSeenRecord | undefined;
    try {
      from = parseGroupsSeen(await readFile(path, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        opts.log.warn({ [F.event]: GROUPS_SEEN_EVENTS.loadFailed, path, err }, 'groups-seen file not usable; starting an empty record');
      }
    }
    return new GroupsSeenFile(path, new GroupsSeenSet(opts.clock, opts.max ?? MAX_GROUPS_SEEN, from), opts);
  }

  record(identity: Pick<Identity, 'groups' | 'connection'>): void {
    this.set.record(identity);
    if (!this.closed) this.timer ??= setTimeout(() => void this.flush(), this.opts.flushMs ?? 5_000).unref();
  }

  names(): Promise<string[]> {
    return this.set.names();
  }

  /** Writes the record now if it changed since the last write. Never throws (failures are logged). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(() => this.writeIfChanged());
    return this.writing;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private async writeIfChanged(): Promise<void> {
    const changes = this.set.changes;
    if (changes === this.written) return;
    try {
      await writeFileAtomic(this.path, `${JSON.stringify(this.set.snapshot(), null, 1)}\n`);
      this.written = changes;
    } catch (err) {
      this.opts.log.warn({ [F.event]: GROUPS_SEEN_EVENTS.writeFailed, path: this.path, err }, 'could not write the groups-seen file');
    }
  }
}

/**
 * Reads a groups-seen file (for `gatehouse check`).
 * @throws Error when it cannot be read or is not a record
 */
export function readGroupsSeenFile(path: string): GroupsSeenRecord {
  return parseGroupsSeen(readFileSync(path, 'utf8'));
}

/** Writes `text` to a fresh temp file (0600) beside `path`, flushed to disk, then renames it over `path`. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** The record a server keeps: in the file at `path` (absolute) when set, else in memory only. */
export async function openGroupsSeen(path: string | undefined, opts: GroupsSeenFileOptions): Promise<GroupsSeen> {
  return path ? GroupsSeenFile.open(path, opts) : new GroupsSeenSet(opts.clock, opts.max);
}
