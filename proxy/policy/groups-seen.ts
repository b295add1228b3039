import { z } from 'zod';
import type { Clock } from '../clock.js';
import type { Identity } from './types.js';

/**
 * The group names assertions have carried, so `gatehouse check` can name the policy groups no
 * IdP ever sends: a mismatched group name grants nobody and says nothing, the classic silent gap.
 * This file holds the seam and the in-memory record (no I/O); persistence is in
 * store/groups-seen-file.ts.
 */

/** Distinct names kept; past it new names are not added and the record says it overflowed. */
export const MAX_GROUPS_SEEN = 10_000;
/** Longer names are not recorded: a policy cannot name them (policy-schema.ts caps names at 256). */
const MAX_NAME = 256;

/** What is known of one group name; times are ISO 8601. */
export interface GroupSeen {
  first_seen: string;
  last_seen: string;
  /** Connection ids whose assertions carried it. */
  connections: string[];
}

/** The whole record, as persisted. */
export interface GroupsSeenRecord {
  version: 1;
  /** When recording started (ISO). */
  since: string;
  /** Successful logins recorded, with or without groups. */
  logins: number;
  /** True once a name was refused because the record was full. */
  overflowed: boolean;
  groups: Record<string, GroupSeen>;
}

/** Where group names seen at login are kept (memory, a file; a shared store later). */
export interface GroupsSeen {
  /** Records one successful login's groups (after group_map). Never throws: I/O is done in the background. */
  record(identity: Pick<Identity, 'groups' | 'connection'>): void;
  /** Every name recorded so far. */
  names(): Promise<string[]>;
  /** Stops, persisting anything pending. */
  close(): Promise<void>;
}

const iso = z.iso.datetime();
const recordSchema = z.strictObject({
  version: z.literal(1),
  since: iso,
  logins: z.number().int().min(0),
  overflowed: z.boolean(),
  groups: z.record(z.string().min(1).max(MAX_NAME), z.strictObject({ first_seen: iso, last_seen: iso, connections: z.array(z.string()) })),
});

/**
 * Parses a persisted record.
 * @throws Error saying what is wrong (not JSON, or not a version-1 record)
 */
export function parseGroupsSeen(text: string): GroupsSeenRecord {
  const result = recordSchema.safeParse(JSON.parse(text));
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new Error(`not a groups-seen record: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
}

/** The in-memory record: bounded, and the implementation used when nothing is persisted. */
export class GroupsSeenSet implements GroupsSeen {
  private readonly groups = new Map<string, { first_seen: string; last_seen: string; connections: Set<string> }>();
  private since: string;
  private logins = 0;
  private overflowed = false;
  private changeCount = 0;

  constructor(
    private readonly clock: Clock,
    private readonly max: number = MAX_GROUPS_SEEN,
    from?: GroupsSeenRecord,
  ) {
    this.since = new Date(clock.now()).toISOString();
    if (from) this.load(from);
  }

  record(identity: Pick<Identity, 'groups' | 'connection'>): void {
    const now = new Date(this.clock.now()).toISOString();
    this.logins++;
    this.changeCount++;
    for (const name of identity.groups) {
      if (name.length > MAX_NAME) continue;
      const seen = this.groups.get(name);
      if (seen) {
        seen.last_seen = now;
        seen.connections.add(identity.connection);
      } else if (this.groups.size < this.max) {
        this.groups.set(name, { first_seen: now, last_seen: now, connections: new Set([identity.connection]) });
      } else this.overflowed = true;
    }
  }

  /** Grows with every change, so a writer knows whether what it wrote is still current. */
  get changes(): number {
    return this.changeCount;
  }

  async names(): Promise<string[]> {
    return [...this.groups.keys()];
  }

  async close(): Promise<void> {}

  /** A plain copy of the record, for persisting. */
  snapshot(): GroupsSeenRecord {
    const groups: Record<string, GroupSeen> = {};
    for (const [name, g] of this.groups) groups[name] = { first_seen: g.first_seen, last_seen: g.last_seen, connections: [...g.connections].sort() };
    return { version: 1, since: this.since, logins: this.logins, overflowed: this.overflowed, groups };
  }

  private load(from: GroupsSeenRecord): void {
    this.since = from.since;
    this.logins = from.logins;
    this.overflowed = from.overflowed;
    for (const [name, g] of Object.entries(from.groups)) {
      if (this.groups.size >= this.max) {
        this.overflowed = true;
        break;
      }
      this.groups.set(name, { first_seen: g.first_seen, last_seen: g.last_seen, connections: new Set(g.connections) });
    }
  }
}
