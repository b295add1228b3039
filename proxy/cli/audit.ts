import { AuditSeal } from '../audit/audit-seal.js';
import { auditLine, parseAuditQuery, publicEntry, terminalSafe, type AuditFilters } from '../audit/audit-query.js';
import { RedisAuditStore } from '../audit/redis-audit-store.js';
import { SamlAudit } from '../audit/saml-audit.js';
import { systemClock } from '../clock.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/problems.js';
import { createLogger } from '../log.js';
import { PATHS } from '../server/endpoints/paths.js';
import { redisSettings } from '../store/open-stores.js';
import { RedisConnection } from '../store/redis-connection.js';

/** What `gatehouse audit saml` was asked. */
export interface AuditCommand extends AuditFilters {
  json: boolean;
  showXml: boolean;
}

/**
 * `gatehouse audit saml [--email E] [--since 2h|ISO] [--connection ID] [--verdict refused]
 * [--json] [--limit N] [--show-xml]`: the SAML messages Gatehouse received, newest first, read
 * from Redis directly with the config's secret (works with every instance down). With the memory
 * store the trail lives inside the running process, which this command cannot read: it says so
 * and names the admin page and API instead.
 */
export async function runAuditSaml(file: string, cmd: AuditCommand): Promise<number> {
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) process.stderr.write(`${formatProblem(p)}\n`);
    return 1;
  }
  const { config } = loaded;
  const query = parseAuditQuery(cmd, systemClock.now());
  if (typeof query === 'string') {
    process.stderr.write(`gatehouse: audit saml: ${query}\n`);
    return 2;
  }
  const redis = redisSettings(config.session, loaded.dir);
  const page = `${new URL(config.server.public_url).origin}${PATHS.admin}saml-audit`;
  if (!redis) {
    process.stderr.write(
      `gatehouse: session.store is memory: the SAML audit trail lives in the running Gatehouse's memory, which this command cannot read.\n` +
        `Open ${page} in a browser as a member of admin.groups, or call it with the admin token:\n` +
        `  curl -H "Authorization: Bearer $GATEHOUSE_ADMIN_TOKEN" '${page}?since=2h&verdict=refused'\n` +
        `(or use a Redis session store, which this command reads directly)\n`,
    );
    return 2;
  }
  if (config.session.secret === undefined) {
    process.stderr.write('gatehouse: session.secret is not set: entries sealed under a random demo secret cannot be read\n');
    return 2;
  }
  if (config.saml.audit.retention === 0) process.stderr.write('gatehouse: note: saml.audit.retention is 0s, nothing is being recorded\n');
  let conn: RedisConnection;
  try {
    conn = await RedisConnection.open(redis, createLogger('silent'));
  } catch (err) {
    process.stderr.write(`gatehouse: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const a = config.saml.audit;
    const audit = new SamlAudit(
      new RedisAuditStore(conn, systemClock),
      new AuditSeal([config.session.secret, ...config.session.previous_secrets]),
      // Reading: entries expire in Redis by themselves, whatever the retention configured now.
      { retentionMs: Math.max(a.retention, 1), maxXmlBytes: a.max_xml_bytes, maxEntries: a.max_entries, maxParseBytes: config.saml.max_response_bytes },
      systemClock,
      createLogger('silent'),
    );
    const { entries, truncated } = await audit.list(query);
    if (cmd.json) {
      process.stdout.write(`${JSON.stringify({ entries: entries.map((e) => publicEntry(e, cmd.showXml)), truncated }, null, 2)}\n`);
      return 0;
    }
    if (entries.length === 0) process.stdout.write('no SAML messages match\n');
    for (const e of entries) {
      process.stdout.write(`${auditLine(e)}\n`);
      if (cmd.showXml) process.stdout.write(`${e.xml_truncated ? `[first ${Buffer.byteLength(e.xml)} of ${e.xml_bytes} bytes]\n` : ''}${terminalSafe(e.xml)}\n\n`);
    }
    if (truncated) process.stdout.write(`(more match: narrow with --since, --email or --limit)\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`gatehouse: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await conn.close();
  }
}
