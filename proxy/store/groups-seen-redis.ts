import type { Clock } from '../clock.js';
import { F, type Logger } from '../log.js';
import { MAX_GROUPS_SEEN, parseGroupsSeen, type GroupsSeen, type GroupsSeenRecord } from '../policy/groups-seen.js';
import type { Identity } from '../policy/types.js';
import { GROUPS_SEEN_EVENTS } from './groups-seen-file.js';
import type { RedisConnection } from './redis-connection.js';

/** Both keys share a hash tag, so the script below runs on one Cluster node. */
const GROUPS = '{groups-seen}:names';
const META = '{groups-seen}:meta';

/**
 * Merges one login into the record atomically: every instance adds to the same record, first
 * and last seen per name, the connections that sent it, bounded at ARGV[3] names.
 * KEYS: names hash, meta hash. ARGV: now (ISO), connection, max names, group names...
 */
const RECORD = `
redis.call('HSETNX', KEYS[2], 'since', ARGV[1])
redis.call('HINCRBY', KEYS[2], 'logins', 1)
local n = redis.call('HLEN', KEYS[1])
for i = 4, #ARGV do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur then
    local g = cjson.decode(cur)
    g.last_seen = ARGV[1]
    local known = false
    for _, c in ipairs(g.connections) do if c == ARGV[2] then known = true end end
    if not known then table.insert(g.connections, ARGV[2]) end
    redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(g))
  elseif n < tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], ARGV[i], cjson.encode({ first_seen = ARGV[1], last_seen = ARGV[1], connections = { ARGV[2] } }))
    n = n + 1
  else
    redis.call('HSET', KEYS[2], 'overflowed', '1')
  end
end
return n
`;

/** Names longer than this are not recorded (policies cannot name them). */
const MAX_NAME = 256;

/**
 * The groups-seen record in the shared store, so `gatehouse check` sees the group names every
 * instance's logins carried. Recording never blocks or fails a login: a failed write is logged.
 */
export class RedisGroupsSeen implements GroupsSeen {
  private pending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly conn: RedisConnection,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly max = MAX_GROUPS_SEEN,
  ) {}

  record(identity: Pick<Identity, 'groups' | 'connection'>): void {
    const names = identity.groups.filter((g) => g.length <= MAX_NAME);
    const now = new Date(this.clock.now()).toISOString();
    this.pending = this.conn
      .run((c) => c.eval(RECORD, 2, GROUPS, META, now, identity.connection, String(this.max), ...names))
      .catch((err: unknown) => this.log.warn({ [F.event]: GROUPS_SEEN_EVENTS.writeFailed, store: 'redis', err }, 'could not record the group names of a login'));
  }

  async names(): Promise<string[]> {
    return this.conn.run((c) => c.hkeys(GROUPS));
  }

  /** The whole record, in the shape of the groups-seen file. */
  async read(): Promise<GroupsSeenRecord> {
    const [groups, meta] = await this.conn.run((c) => Promise.all([c.hgetall(GROUPS), c.hgetall(META)]));
    const record = {
      version: 1,
      since: meta.since ?? new Date(this.clock.now()).toISOString(),
      logins: Number(meta.logins ?? 0),
      overflowed: meta.overflowed === '1',
      groups: Object.fromEntries(Object.entries(groups).map(([name, json]) => [name, JSON.parse(json) as unknown])),
    };
    return parseGroupsSeen(JSON.stringify(record));
  }

  async close(): Promise<void> {
    await this.pending;
  }
}
