import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkEmailDomains } from './email-domain-rules.js';
import type { ConfigProblem } from './problems.js';
import { locate, type YamlSource } from './yaml-source.js';
import { buildTrustList } from '../server/trusted-proxies.js';
import { readSpKey } from './sp-keys.js';
import { checkServiceAccounts } from './service-account-rules.js';

/**
 * Rules that span several keys. They read the raw parsed YAML (not the validated config) so
 * they run even when the schema found problems: every problem is reported in one pass.
 */

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Cross-key rules of the config file. */
export function checkConfigSemantics(raw: unknown, src: YamlSource, dir: string, problems: ConfigProblem[]): void {
  const at = (path: PropertyKey[], key: string, message: string) => problems.push({ file: src.file, line: locate(src, path), key, message });
  const root = obj(raw);
  const demo = root.demo === true;
  const server = obj(root.server);
  const publicUrl = str(server.public_url);
  if (publicUrl && URL.canParse(publicUrl)) {
    const url = new URL(publicUrl);
    if (url.pathname !== '/' || url.search || url.hash) at(['server', 'public_url'], 'server.public_url', 'must be an origin only (scheme://host[:port]), without path or query');
  }
  const proxies = list(server.trusted_proxies).filter((p): p is string => typeof p === 'string');
  for (const bad of buildTrustList(proxies).invalid) at(['server', 'trusted_proxies'], 'server.trusted_proxies', `"${bad}" is not an IP address or CIDR`);
  checkConnections(list(obj(root.saml).connections), demo, dir, at);
  checkSpKeys(list(obj(root.saml).sp_keys), dir, at);
  checkEmailDomains(list(obj(root.saml).connections), at);
  checkKeyUse(list(obj(root.saml).connections), list(obj(root.saml).sp_keys).length > 0, at);
  if (root.demo_upstream !== undefined && !demo) at(['demo_upstream'], 'demo_upstream', 'the demo upstream refuses to run unless `demo: true` is set');
  const session = obj(root.session);
  const secret = str(session.secret);
  if (secret === undefined && session.secret_file === undefined && !demo) {
    at(['session'], 'session.secret', 'required (set secret: ${GATEHOUSE_SESSION_SECRET} or secret_file)');
  }
  if (secret !== undefined && /change.?me|example|(?:secret){2,}|^(.)\1+$/i.test(secret)) {
    at(['session', 'secret'], 'session.secret', 'looks like a placeholder; generate one with: openssl rand -base64 48');
  }
  checkSessionStore(session, at);
  const storeName = str(session.store) ?? 'memory';
  if (storeName !== 'memory' && obj(root.saml).groups_seen_file !== undefined) {
    at(['saml', 'groups_seen_file'], 'saml.groups_seen_file', 'with a Redis session store the group names seen are kept in Redis, shared by every instance: drop this key');
  }
  const admin = obj(root.admin);
  const connectionIds = new Set(list(obj(root.saml).connections).map((c) => str(obj(c).id)));
  list(admin.connections).forEach((c, i) => {
    if (typeof c === 'string' && !connectionIds.has(c)) at(['admin', 'connections', i], `admin.connections[${i}]`, `no connection "${c}"`);
  });
  checkServiceAccounts(root, at);
  if (admin.token !== undefined && admin.token === admin.scim_token) at(['admin', 'scim_token'], 'admin.scim_token', 'must differ from admin.token (a SCIM client must not hold admin rights)');
}

/** `store: redis` needs exactly one way to reach Redis; `redis:` is only for a Redis store. */
function checkSessionStore(session: Obj, at: (p: PropertyKey[], k: string, m: string) => void): void {
  const store = str(session.store) ?? 'memory';
  const redis = session.redis === undefined ? undefined : obj(session.redis);
  if (store === 'memory') {
    if (redis) at(['session', 'redis'], 'session.redis', 'set, but session.store is memory (use store: redis)');
    return;
  }
  if (!redis) {
    if (store === 'redis') at(['session', 'store'], 'session.store', 'redis needs session.redis with url, sentinels or nodes (or write the redis:// URL here)');
    return;
  }
  const ways = ['url', 'sentinels', 'nodes'].filter((k) => redis[k] !== undefined);
  if (store !== 'redis' && ways.length > 0) at(['session', 'redis', ways[0]!], `session.redis.${ways[0]}`, 'session.store already names a URL; use store: redis with this, or drop it');
  if (store === 'redis' && ways.length !== 1) at(['session', 'redis'], 'session.redis', 'set exactly one of url (one server), sentinels (with master_name) or nodes (Cluster)');
  if (redis.sentinels !== undefined && redis.master_name === undefined) at(['session', 'redis'], 'session.redis.master_name', 'required with sentinels (the name Sentinel monitors, e.g. mymaster)');
  if (redis.master_name !== undefined && redis.sentinels === undefined) at(['session', 'redis', 'master_name'], 'session.redis.master_name', 'only used with sentinels');
}

function checkConnections(connections: unknown[], demo: boolean, dir: string, at: (p: PropertyKey[], k: string, m: string) => void): void {
  const seen = new Set<string>();
  connections.forEach((item, i) => {
    const c = obj(item);
    const base = ['saml', 'connections', i];
    const key = `saml.connections[${i}]`;
    const id = str(c.id);
    if (id !== undefined && seen.has(id)) at([...base, 'id'], `${key}.id`, `duplicate connection id "${id}"`);
    if (id !== undefined) seen.add(id);
    const sources = ['idp_metadata_url', 'idp_metadata_file', 'demo_idp'].filter((k) => c[k] !== undefined).length;
    if (sources !== 1) at(base, key, 'set exactly one of idp_metadata_url, idp_metadata_file, demo_idp');
    if (c.demo_idp !== undefined && !demo) at([...base, 'demo_idp'], `${key}.demo_idp`, 'the demo IdP is for local trial only and refuses to run unless `demo: true` is set');
    if (c.allow_idp_initiated !== undefined) at([...base, 'allow_idp_initiated'], `${key}.allow_idp_initiated`, 'replaced by idp_initiated: refuse | restart | accept (true was accept; restart is the safer way to let IdP tiles work)');
    const pins = ['idp_metadata_signing_cert_file', 'idp_metadata_fingerprint'].filter((k) => c[k] !== undefined);
    if (pins.length > 1) at([...base, pins[1]!], `${key}.${pins[1]}`, 'set only one of idp_metadata_signing_cert_file, idp_metadata_fingerprint');
    if (pins.length > 0 && c.demo_idp !== undefined) at([...base, pins[0]!], `${key}.${pins[0]}`, 'the demo IdP has no metadata to sign');
    const pinFile = str(c.idp_metadata_signing_cert_file);
    if (pinFile && !existsSync(resolve(dir, pinFile))) at([...base, 'idp_metadata_signing_cert_file'], `${key}.idp_metadata_signing_cert_file`, `file not found: ${pinFile}`);
    const file = str(c.idp_metadata_file);
    if (file && !existsSync(resolve(dir, file))) at([...base, 'idp_metadata_file'], `${key}.idp_metadata_file`, `file not found: ${file}`);
  });
}

/** Each SP key pair must read, match and be RSA-2048+; the same key twice is a mistake. */
function checkSpKeys(entries: unknown[], dir: string, at: (p: PropertyKey[], k: string, m: string) => void): void {
  const seen = new Set<string>();
  entries.forEach((item, i) => {
    const e = obj(item);
    const key_file = str(e.key_file);
    const cert_file = str(e.cert_file);
    if (!key_file || !cert_file) return; // the schema reports it
    const key = readSpKey({ key_file, cert_file }, dir);
    const path = ['saml', 'sp_keys', i];
    if (typeof key === 'string') return at(path, `saml.sp_keys[${i}]`, key);
    if (seen.has(key.fingerprint256)) at(path, `saml.sp_keys[${i}]`, 'the same key is listed twice');
    seen.add(key.fingerprint256);
  });
}

/** Signing requests, requiring encryption and Single Logout all need Gatehouse's own keys. */
function checkKeyUse(connections: unknown[], haveKeys: boolean, at: (p: PropertyKey[], k: string, m: string) => void): void {
  if (haveKeys) return;
  connections.forEach((item, i) => {
    const c = obj(item);
    const base = ['saml', 'connections', i];
    if (c.sign_requests === true) at([...base, 'sign_requests'], `saml.connections[${i}].sign_requests`, 'needs saml.sp_keys (the key that signs)');
    if (obj(c.encryption).require === true) at([...base, 'encryption', 'require'], `saml.connections[${i}].encryption.require`, 'needs saml.sp_keys (the keys that decrypt)');
    if (c.single_logout === true) at([...base, 'single_logout'], `saml.connections[${i}].single_logout`, 'needs saml.sp_keys: logout messages must be signed');
  });
}

/** A policy file as parsed, before validation, for cross-file rules. */
export interface RawPolicyFile {
  file: string;
  routes: unknown[];
  routeLines: number[];
}

/**
 * Rules across all policy files: unique route names, no two routes on the same host and path
 * whose methods overlap (one could never match), and `connections` criteria (at any depth)
 * naming connections that exist.
 */
export function checkPolicySemantics(files: RawPolicyFile[], connectionIds: ReadonlySet<string>, problems: ConfigProblem[], claimNames?: ReadonlySet<string>): void {
  const names = new Map<string, string>();
  const places = new Map<string, { at: string; methods: Set<string> | undefined }[]>();
  const headerRoles = new Map<string, { role: string; at: string }>();
  for (const f of files) {
    f.routes.forEach((item, i) => {
      const route = obj(item);
      const line = f.routeLines[i] ?? 0;
      const key = `routes[${i}]`;
      const name = str(route.name);
      const prior = name === undefined ? undefined : names.get(name);
      if (prior) problems.push({ file: f.file, line, key: `${key}.name`, message: `route name "${name}" already used at ${prior}` });
      if (name !== undefined && !prior) names.set(name, `${f.file}:${line}`);
      const place = placeOf(route);
      const methods = Array.isArray(route.methods) ? new Set(route.methods.map(String).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]))) : undefined;
      const same = places.get(place)?.find((p) => overlap(p.methods, methods));
      if (same) problems.push({ file: f.file, line, key, message: `same host, path and method(s) as the route at ${same.at}; this one could never match` });
      places.set(place, [...(places.get(place) ?? []), { at: `${f.file}:${line}`, methods }]);
      checkHeaderRoles(route, key, `${f.file}:${line}`, headerRoles, (k, message) => problems.push({ file: f.file, line, key: k, message }));
      // A claim no connection keeps would never reach the upstream: a typo, not a choice.
      for (const claim of Object.keys(obj(route.forward_claims))) {
        if (claimNames && !claimNames.has(claim)) problems.push({ file: f.file, line, key: `${key}.forward_claims.${claim}`, message: `no connection keeps a claim "${claim}" (set it under a connection's claims:)` });
      }
      for (const kind of ['allow', 'deny'] as const) {
        list(route[kind]).forEach((rule, r) => {
          for (const c of connectionsIn(rule)) {
            if (!connectionIds.has(c)) problems.push({ file: f.file, line, key: `${key}.${kind}[${r}].connections`, message: `no connection "${c}" in the config` });
          }
        });
      }
    });
  }
}

/**
 * One header, one meaning: the user, email, groups and each forwarded claim of a route use
 * different headers, and a header name means the same thing on every route. Otherwise a claim
 * value (often a profile field users edit) could arrive as the user name of another route's
 * upstream, or beside it as a second copy.
 */
function checkHeaderRoles(route: Obj, key: string, at: string, roles: Map<string, { role: string; at: string }>, problem: (key: string, message: string) => void): void {
  const h = obj(route.headers);
  const named: [role: string, header: unknown, path: string][] = [
    ['the user', h.user ?? 'X-Forwarded-User', `${key}.headers.user`],
    ['the email', h.email ?? 'X-Forwarded-Email', `${key}.headers.email`],
    ['the groups', h.groups ?? 'X-Forwarded-Groups', `${key}.headers.groups`],
    ...Object.entries(obj(route.forward_claims)).map(([c, header]): [string, unknown, string] => [`claim "${c}"`, header, `${key}.forward_claims.${c}`]),
  ];
  const here = new Map<string, string>();
  for (const [role, header, path] of named) {
    if (typeof header !== 'string') continue;
    const fold = header.toLowerCase().replaceAll('_', '-');
    const mine = here.get(fold);
    if (mine !== undefined) problem(path, `${header} already carries ${mine} on this route`);
    here.set(fold, role);
    const prior = roles.get(fold);
    if (prior && prior.role !== role) problem(path, `${header} carries ${role} here but ${prior.role} at ${prior.at}: one header, one meaning`);
    if (!prior) roles.set(fold, { role, at });
  }
}

/** Host, kind and pattern of a route's path, as one comparable key. */
function placeOf(route: Obj): string {
  const host = (str(route.host) ?? '*any*').toLowerCase();
  const exact = str(route.path_exact);
  if (exact !== undefined) return `${host} exact ${exact}`;
  const path = str(route.path) ?? '/';
  return path.includes('*') ? `${host} glob ${path}` : `${host} prefix ${path.replace(/\/+$/, '') || '/'}`;
}

/**
 * Two routes at one place collide when neither names methods, or both name a common one. A
 * route naming methods beside one that does not is a split (it is tried first), not a clash.
 */
function overlap(a: Set<string> | undefined, b: Set<string> | undefined): boolean {
  if (!a && !b) return true;
  return a !== undefined && b !== undefined && [...a].some((m) => b.has(m));
}

/** Connection names a rule uses, at any depth of and/or/not. */
function connectionsIn(rule: unknown): string[] {
  const r = obj(rule);
  const own = list(r.connections).filter((c): c is string => typeof c === 'string');
  return [...own, ...list(r.and).flatMap(connectionsIn), ...list(r.or).flatMap(connectionsIn), ...(r.not ? connectionsIn(r.not) : [])];
}
