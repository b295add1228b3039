import { AuditSeal } from '../audit/audit-seal.js';
import { auditLine, parseAuditQuery, publicEntry, terminalSafe, type AuditFilters } from '../audit/audit-query.js';
import { RedisAuditStore } from '../audit/redis-audit-store.js';
import { SamlAudit, type AuditListing } from '../audit/saml-audit.js';
import { AUDIT_KINDS, type AuditEntry, type AuditKind, type AuditQuery } from '../audit/saml-audit-types.js';
import { systemClock } from '../clock.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/problems.js';
import { createLogger } from '../log.js';
import { redisSettings } from '../store/open-stores.js';
import { RedisConnection } from '../store/redis-connection.js';
import { AdminApiError, callAdmin, resolveAdminTarget, type AdminTargetFlags } from './admin-client.js';

/** What `gatehouse audit saml` was asked. */
export interface AuditCommand extends AuditFilters, AdminTargetFlags {
  json: boolean;
  showXml: boolean;
}

type Out = NodeJS.WritableStream;

/**
 * `gatehouse audit saml [--email E] [--since 2h|ISO] [--connection ID] [--verdict refused]
 * [--kind K] [--limit N] [--json] [--show-xml] [--instance URL] [--admin-token-file FILE]`: the
 * SAML messages Gatehouse received, newest first. With a Redis store it reads Redis directly with
 * the config's secret (works with every instance down). With the memory store the trail lives
 * inside the running process: it asks that process's admin API (`server.listen` of the config,
 * or `--instance URL`) with `admin.token` (or `--admin-token-file`). `--instance` always asks an
 * instance, whatever the store. The output is the same either way.
 * Exit 0 listed, 1 config/store/instance failure (the token refused included), 2 usage errors.
 */
export async function runAuditSaml(file: string, cmd: AuditCommand, out: Out = process.stdout, err: Out = process.stderr): Promise<number> {
  const query = parseAuditQuery(cmd, systemClock.now());
  if (typeof query === 'string') {
    err.write(`gatehouse: audit saml: ${query}\n`);
    return 2;
  }
  let loaded: LoadedConfig | undefined;
  try {
    if (cmd.instance === undefined) loaded = loadConfig(file);
    const listing = loaded && redisSettings(loaded.config.session, loaded.dir) ? await readRedis(loaded, query, err) : await askInstance(file, loaded, cmd, query, err);
    if (typeof listing === 'string') {
      err.write(`gatehouse: ${listing}\n`);
      return 2;
    }
    print(listing, cmd, out);
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) err.write(`${formatProblem(p)}\n`);
      return 1;
    }
    // Unreachable store or instance, a refused token: one line saying where and why, no stack trace.
    err.write(`gatehouse: ${(e as Error).message}\n`);
    return 1;
  }
}

/** The trail straight from Redis, opened with the config's secrets. */
async function readRedis(loaded: LoadedConfig, query: AuditQuery, err: Out): Promise<AuditListing | string> {
  const { config } = loaded;
  if (config.session.secret === undefined) return 'session.secret is not set: entries sealed under a random demo secret cannot be read';
  if (config.saml.audit.retention === 0) err.write('gatehouse: note: saml.audit.retention is 0s, nothing is being recorded\n');
  const conn = await RedisConnection.open(redisSettings(config.session, loaded.dir)!, createLogger('silent'));
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
    return await audit.list(query);
  } finally {
    await conn.close();
  }
}

/** The trail as a running instance's admin API serves it (`GET …/admin/saml-audit`, JSON). */
async function askInstance(file: string, loaded: LoadedConfig | undefined, cmd: AuditCommand, query: AuditQuery, err: Out): Promise<AuditListing | string> {
  const target = resolveAdminTarget(cmd, () => (loaded ??= loadConfig(file)).config);
  if (typeof target === 'string') {
    return cmd.instance === undefined ? `session.store is memory: the SAML audit trail lives inside the running Gatehouse and is read through its admin API: ${target}` : target;
  }
  const params = new URLSearchParams();
  if (query.email !== undefined) params.set('email', query.email);
  // The instant computed here, so that `2h` means the same whatever the instance's clock says.
  if (query.since !== undefined) params.set('since', new Date(query.since).toISOString());
  if (query.connection !== undefined) params.set('connection', query.connection);
  if (query.verdict !== undefined) params.set('verdict', query.verdict);
  if (query.kind !== undefined) params.set('kind', query.kind);
  params.set('limit', String(query.limit));
  if (cmd.showXml) params.set('xml', '1');
  let body: Record<string, unknown>;
  try {
    body = await callAdmin(target, `saml-audit?${params}`);
  } catch (e) {
    if (e instanceof AdminApiError && e.status === 404) throw new Error(`${e.message} (is the admin API on at ${target.base}? it needs admin.token or admin.groups in that instance's config)`);
    throw e;
  }
  if (!Array.isArray(body.entries)) throw new Error(`unexpected answer from ${target.base}saml-audit: no entries`);
  if (body.enabled === false) err.write('gatehouse: note: saml.audit.retention is 0s on that instance, nothing is being recorded\n');
  return { entries: body.entries.map(entryFromApi), truncated: body.truncated === true };
}

/**
 * An entry of the admin API's JSON back into the shape `auditLine`/`publicEntry` format, checked
 * field by field (the output must not depend on trusting the answer's types).
 */
function entryFromApi(v: unknown): AuditEntry {
  const o = (v !== null && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  const bad = (k: string): never => {
    throw new Error(`unexpected answer from the admin API: an entry's ${k} is missing or malformed`);
  };
  const str = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : bad(k));
  const at = Date.parse(str('time'));
  if (!Number.isFinite(at)) bad('time');
  const kind = str('kind');
  if (!AUDIT_KINDS.includes(kind as AuditKind)) bad('kind');
  const verdict = str('verdict');
  if (verdict !== 'accepted' && verdict !== 'refused') bad('verdict');
  const claims = o.claims !== null && typeof o.claims === 'object' && !Array.isArray(o.claims) ? (o.claims as AuditEntry['claims']) : bad('claims');
  if (claims.email !== undefined && typeof claims.email !== 'string') bad('claims.email');
  const code = o.code === null || o.code === undefined ? undefined : str('code');
  if (o.claims_error !== undefined) str('claims_error');
  const xmlBytes = typeof o.xml_bytes === 'number' ? o.xml_bytes : bad('xml_bytes');
  return {
    id: str('id'),
    at,
    req_id: str('req_id'),
    kind: kind as AuditKind,
    connection: str('connection'),
    client_ip: str('client_ip'),
    verdict: verdict as AuditEntry['verdict'],
    ...(code !== undefined ? { code } : {}),
    reason: str('reason'),
    claims,
    claims_verified: o.claims_verified === true,
    ...(o.claims_error !== undefined ? { claims_error: o.claims_error as string } : {}),
    xml_bytes: xmlBytes,
    xml_truncated: o.xml_truncated === true,
    xml: o.xml === undefined ? '' : str('xml'),
  };
}

/** One line per entry (`--show-xml`: then its XML, made terminal-safe), or the JSON of the admin API. */
function print({ entries, truncated }: AuditListing, cmd: AuditCommand, out: Out): void {
  if (cmd.json) {
    out.write(`${JSON.stringify({ entries: entries.map((e) => publicEntry(e, cmd.showXml)), truncated }, null, 2)}\n`);
    return;
  }
  if (entries.length === 0) out.write('no SAML messages match\n');
  for (const e of entries) {
    out.write(`${auditLine(e)}\n`);
    if (cmd.showXml) out.write(`${e.xml_truncated ? `[first ${Buffer.byteLength(e.xml)} of ${e.xml_bytes} bytes]\n` : ''}${terminalSafe(e.xml)}\n\n`);
  }
  if (truncated) out.write(`(more match: narrow with --since, --email or --limit)\n`);
}
