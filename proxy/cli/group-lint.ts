import { resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { namedGroups, type NamedGroup } from '../config/named-groups.js';
import { keyPath, type ConfigProblem } from '../config/problems.js';
import { locate } from '../config/yaml-source.js';
import type { GroupsSeenRecord } from '../policy/groups-seen.js';
import { readGroupsSeenFile } from '../store/groups-seen-file.js';
import { RedisGroupsSeen } from '../store/groups-seen-redis.js';
import { redisSettings } from '../store/open-stores.js';
import { describeRedis, RedisConnection } from '../store/redis-connection.js';
import { systemClock } from '../clock.js';
import { createLogger } from '../log.js';
import { closeMatches } from './close-matches.js';

/** What the group-name lint found: warnings (`file:line key: warning: ...`) and info lines. */
export interface GroupLint {
  warnings: ConfigProblem[];
  notes: string[];
}

/**
 * Group names are compared exactly, so a policy naming `ml-engineer` when the IdP sends
 * `ml-engineers` grants nobody and says nothing. This lint names such groups: those policies
 * name but no assertion has carried (from `saml.groups_seen_file`, or the Redis store), and `group_map` targets no
 * policy names. Each comes with close matches. Runs on a config that validated.
 */
export async function lintGroupNames(loaded: LoadedConfig): Promise<GroupLint> {
  const named = loaded.policies.flatMap((p) => (p.source ? namedGroups(p.source) : []));
  const notes: string[] = [];
  const seen = redisSettings(loaded.config.session, loaded.dir) ? await readSeenInRedis(loaded, notes) : readSeen(loaded, notes);
  const warnings = seen ? unseenGroups(named, seen) : [];
  warnings.push(...unusedMapTargets(loaded, named));
  return { warnings, notes };
}

const skippedNote = (notes: string[]) => (why: string) => void notes.push(`group-name lint skipped: ${why}`);

/** With a Redis store every instance records into Redis: read it there (briefly; unreachable is a note, not a failure). */
async function readSeenInRedis(loaded: LoadedConfig, notes: string[]): Promise<GroupsSeenRecord | undefined> {
  const settings = redisSettings(loaded.config.session, loaded.dir)!;
  const skipped = skippedNote(notes);
  let conn: RedisConnection | undefined;
  try {
    conn = await RedisConnection.open({ ...settings, connect_timeout: Math.min(settings.connect_timeout, 3_000) }, createLogger('silent'));
    const record = await new RedisGroupsSeen(conn, systemClock, createLogger('silent')).read();
    if (record.logins === 0) return skipped(`no login recorded yet in the session store (${describeRedis(settings)})`);
    return record;
  } catch (e) {
    return skipped(`the session store is not reachable: ${(e as Error).message}`);
  } finally {
    await conn?.close();
  }
}

function readSeen(loaded: LoadedConfig, notes: string[]): GroupsSeenRecord | undefined {
  const file = loaded.config.saml.groups_seen_file;
  const skipped = skippedNote(notes);
  if (file === undefined) return skipped('saml.groups_seen_file is not set, so there is no record of the group names assertions carry');
  const path = resolve(loaded.dir, file);
  let record: GroupsSeenRecord;
  try {
    record = readGroupsSeenFile(path);
  } catch (e) {
    return skipped(`saml.groups_seen_file ${path}: ${(e as Error).message}`);
  }
  if (record.logins === 0) return skipped(`no login recorded yet in ${path}`);
  return record;
}

function unseenGroups(named: NamedGroup[], record: GroupsSeenRecord): ConfigProblem[] {
  const seen = Object.keys(record.groups);
  const seenSet = new Set(seen);
  const context = `${record.logins} login(s) since ${record.since.slice(0, 10)}`;
  const full = record.overflowed ? `; the record is full (${seen.length} names), so it may have been carried unrecorded` : '';
  return named
    .filter((n) => !seenSet.has(n.name))
    .map((n) => {
      const near = closeMatches(n.name, seen);
      const hint = near.length ? `, seen: ${near.join(', ')}` : `; no close match among the ${seen.length} name(s) seen`;
      return { file: n.file, line: n.line, key: n.key, message: `warning: group "${n.name}" is named here but no assertion has carried it (${context}${hint}${full})` };
    });
}

function unusedMapTargets(loaded: LoadedConfig, named: NamedGroup[]): ConfigProblem[] {
  const names = new Set(named.map((n) => n.name));
  const out: ConfigProblem[] = [];
  loaded.config.saml.connections.forEach((c, i) => {
    for (const [from, to] of Object.entries(c.group_map ?? {})) {
      const targets = typeof to === 'string' ? [to] : to;
      targets.forEach((target, j) => {
        if (names.has(target)) return;
        const path = ['saml', 'connections', i, 'group_map', from];
        const line = loaded.source ? locate(loaded.source, typeof to === 'string' ? path : [...path, j]) : 0;
        const near = closeMatches(target, names);
        const hint = near.length ? `; close: ${near.join(', ')}` : '';
        out.push({ file: loaded.source?.file ?? loaded.file, line, key: keyPath(path), message: `warning: group_map turns "${from}" into "${target}", which no policy names (a typo?${hint})` });
      });
    }
  });
  return out;
}
