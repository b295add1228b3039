/**
 * A private SimpleSAMLphp 1.19 IdP (Debian package) for end-to-end tests.
 *
 * Each `startSimpleSamlPhp()` builds a fresh temp dir holding its own Apache config (prefork +
 * mod_php, listening on loopback on a free port), its own SimpleSAMLphp config dir (selected with
 * `SetEnv SIMPLESAMLPHP_CONFIG_DIR`, nothing under /etc is touched), a fresh RSA-2048 signing key
 * and the users' authsource. `stop()` stops that Apache by its PidFile and removes the dir.
 *
 * Generated PHP is built by `phpLiteral()` (single-quoted strings, only `\` and `'` escaped), so
 * attribute values with `,`, `;`, spaces, quotes and non-ASCII reach the assertion byte for byte.
 */
import { randomBytes } from 'node:crypto';
import { constants, existsSync, rmSync } from 'node:fs';
import { access, chmod, chown, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  APACHE_BIN,
  APACHE_MODULES,
  APACHE_USER,
  certBase64,
  childOwner,
  generateKeyPair,
  hostForUrl,
  httpdServerLines,
  isRunning,
  killQuietly,
  loadModule,
  loadModules,
  logTail,
  readPid,
  startApache,
  stopApache,
  waitForPid,
  type Owner,
  type PrivateApache,
} from './private-apache.js';

const SSP_ROOT = '/usr/share/simplesamlphp';
const SSP_DEBIAN_CONFIG = '/etc/simplesamlphp/config.php';
/** Required by Debian's config.php; root:www-data 0640, so Apache must run as root or www-data. */
const SSP_DEBIAN_SECRETS = '/var/lib/simplesamlphp/secrets.inc.php';
const AUTH_SOURCE = 'test-users';
const START_TIMEOUT_MS = 20_000;

const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const NAME_FORMAT_BASIC = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';
const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const NAMEID_PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
const NAMEID_TRANSIENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient';

/** A Service Provider the IdP should trust (written to `saml20-sp-remote.php`). */
export interface SpRegistration {
  /** SP entity ID, as sent in the AuthnRequest `Issuer`. */
  entityId: string;
  /** AssertionConsumerService URL (HTTP-POST binding). */
  acsUrl: string;
  /** SingleLogoutService URL; no SLO when absent. */
  sloUrl?: string;
  /** Bindings the SP's SingleLogoutService is registered with, in preference order. Default `['redirect']`. */
  sloBindings?: ('redirect' | 'post')[];
  /**
   * Require the SP's LogoutRequests and LogoutResponses to be signed with `certPem`'s key
   * (SimpleSAMLphp `validate.logout`). Default false.
   */
  validateLogout?: boolean;
  /** SP certificate (PEM); needed for `encryptAssertions` and `requireSignedRequests`. */
  certPem?: string;
  /** Encrypt assertions to `certPem` (SimpleSAMLphp 1.19: aes128-cbc + rsa-oaep-mgf1p). Default false. */
  encryptAssertions?: boolean;
  /**
   * Encrypt to this certificate instead of `certPem` (which then only verifies signatures), as an
   * IdP does once it has read metadata listing the SP's next key. Default `certPem`.
   */
  encryptionCertPem?: string;
  /** Refuse AuthnRequests not signed with `certPem`'s key. Default false. */
  requireSignedRequests?: boolean;
}

/** A user of the IdP's `exampleauth:UserPass` source; every attribute value is a list. */
export interface IdpUser {
  username: string;
  password: string;
  attributes: Record<string, string[]>;
}

/** A started IdP; `baseUrl` ends with `/simplesaml/`. */
export interface RunningIdp {
  baseUrl: string;
  /** Entity ID, which is also the metadata URL (`<baseUrl>saml2/idp/metadata.php`). */
  entityId: string;
  metadataUrl: string;
  /** SingleSignOnService (HTTP-Redirect and HTTP-POST). */
  ssoUrl: string;
  /** SingleLogoutService (HTTP-Redirect and HTTP-POST). */
  sloUrl: string;
  /**
   * The metadata URL at the address Apache listens on: equal to `metadataUrl` unless `publicHost`
   * names a host only the browser resolves (then fetch the metadata from here, in Node).
   */
  localMetadataUrl: string;
  /** The temp dir holding config, keys, logs; removed by `stop()`. */
  dir: string;
  /** SimpleSAMLphp's own log (INFO and above), inside `dir`. */
  logFile: string;
  /** Trust one more SP (or replace one with the same entity ID); effective on the next request. */
  registerSp(sp: SpRegistration): Promise<void>;
  /** Stop Apache, wait for it to exit, remove `dir`. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startSimpleSamlPhp}. */
export interface StartOptions {
  /** Users of the login form. Default {@link DEFAULT_USERS}. */
  users?: IdpUser[];
  /** Address Apache listens on and the host of every IdP URL. Default `127.0.0.1`. */
  host?: string;
  /**
   * Host name in every IdP URL (entity ID, SSO, SLO) instead of `host`, e.g. `idp.test` that the
   * browser maps to `host` (Chromium `--host-resolver-rules`), so the IdP is another site. Default `host`.
   */
  publicHost?: string;
  /** Sign the Response as well as the Assertion. Default true (the Assertion is always signed). */
  signResponse?: boolean;
}

/**
 * Users for the e2e suites: alice (two groups), bob (one), carol (no `groups` attribute at all)
 * and dave, whose group names carry separators and non-ASCII that header encodings must keep.
 */
export const DEFAULT_USERS: IdpUser[] = [
  {
    username: 'alice',
    password: 'alice-pw',
    attributes: {
      email: ['alice@example.com'],
      groups: ['ml-engineers', 'admins'],
      displayName: ['Alice Anderson'],
    },
  },
  {
    username: 'bob',
    password: 'bob-pw',
    attributes: { email: ['bob@example.com'], groups: ['data-scientists'] },
  },
  { username: 'carol', password: 'carol-pw', attributes: { email: ['carol@example.com'] } },
  {
    username: 'dave',
    password: 'dave-pw',
    attributes: {
      email: ['dave@example.com'],
      groups: ['team, ml', 'a;b', 'space name', 'Ünïcode-grüppe'],
    },
  },
];

/** True when the SimpleSAMLphp package, Apache, mod_php 8.2 and openssl are installed. */
export function simpleSamlPhpAvailable(): boolean {
  return [
    join(SSP_ROOT, 'www', '_include.php'),
    SSP_DEBIAN_CONFIG,
    APACHE_BIN,
    join(APACHE_MODULES, 'libphp8.2.so'),
    join(APACHE_MODULES, 'mod_mpm_prefork.so'),
    '/usr/bin/openssl',
  ].every((path) => existsSync(path));
}

/** Start a private IdP on a free loopback port; resolves once its metadata URL answers 200. */
export async function startSimpleSamlPhp(opts: StartOptions = {}): Promise<RunningIdp> {
  const users = opts.users ?? DEFAULT_USERS;
  const host = opts.host ?? '127.0.0.1';
  const paths = layoutOf(await mkdtemp(join(tmpdir(), 'gatehouse-ssp-')));
  try {
    const owner = await prepareDirs(paths);
    await generateSigningKey(paths, owner);
    await writeStaticConfig(paths, users, opts.signResponse ?? true);
    return await startIdp(paths, host, opts.publicHost ?? host);
  } catch (err) {
    await rm(paths.dir, { recursive: true, force: true });
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Layout and permissions

/** The private Apache's files, plus SimpleSAMLphp's config, metadata, keys and writable dirs. */
interface Layout extends PrivateApache {
  configDir: string;
  metadataDir: string;
  certDir: string;
  logDir: string;
  tmpDir: string;
  dataDir: string;
  sessionDir: string;
}

function layoutOf(dir: string): Layout {
  const run = join(dir, 'run');
  return {
    dir,
    httpdConf: join(dir, 'httpd.conf'),
    configDir: join(dir, 'config'),
    metadataDir: join(dir, 'metadata'),
    certDir: join(dir, 'cert'),
    logDir: join(run, 'log'),
    tmpDir: join(run, 'tmp'),
    dataDir: join(run, 'data'),
    sessionDir: join(run, 'sessions'),
    runDir: join(dir, 'apache'),
    pidFile: join(dir, 'apache', 'httpd.pid'),
    errorLog: join(dir, 'apache', 'error.log'),
  };
}

/**
 * Root runs Apache's children as www-data: config stays root-owned but world-readable (mkdtemp
 * makes 0700 dirs), the dirs PHP writes to belong to www-data. Returns that owner, if any.
 */
async function prepareDirs(paths: Layout): Promise<Owner | undefined> {
  const owner = childOwner();
  if (!owner) await assertSecretsReadable();
  const writable = [paths.logDir, paths.tmpDir, paths.dataDir, paths.sessionDir];
  for (const dir of [paths.configDir, paths.metadataDir, paths.certDir, paths.runDir, ...writable]) {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  }
  await chmod(paths.dir, 0o755);
  await chmod(join(paths.dir, 'run'), 0o755);
  for (const dir of writable) {
    if (owner) await chown(dir, owner.uid, owner.gid);
    await chmod(dir, 0o700);
  }
  return owner;
}

/** Without root, Apache runs as us and must read Debian's secrets itself. */
async function assertSecretsReadable(): Promise<void> {
  try {
    await access(SSP_DEBIAN_SECRETS, constants.R_OK);
  } catch {
    throw new Error(`${SSP_DEBIAN_SECRETS} is not readable: run as root or in group www-data`);
  }
}

/** Fresh RSA-2048 key + self-signed cert; the key is readable by root and www-data only. */
async function generateSigningKey(paths: Layout, owner: Owner | undefined): Promise<void> {
  await generateKeyPair({
    key: join(paths.certDir, 'idp.key'),
    cert: join(paths.certDir, 'idp.crt'),
    subject: '/CN=Gatehouse test SimpleSAMLphp IdP',
    owner,
  });
}

// ---------------------------------------------------------------------------------------------
// PHP generation

/** Raw PHP code inside a {@link phpLiteral} value. */
class PhpCode {
  constructor(readonly code: string) {}
}

type PhpValue = string | number | boolean | null | PhpCode | readonly PhpValue[] | { readonly [key: string]: PhpValue };

/** A PHP single-quoted string: only `\` and `'` are special, every other byte is literal. */
function phpString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** PHP source for a JSON-like value (lists become `[...]`, objects `['key' => ...]`). */
function phpLiteral(value: PhpValue, indent = ''): string {
  if (value instanceof PhpCode) return value.code;
  if (value === null) return 'null';
  if (typeof value === 'string') return phpString(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`phpLiteral: unsupported number ${value}`);
    return String(value);
  }
  const inner = `${indent}    `;
  const items = Array.isArray(value)
    ? value.map((v: PhpValue) => phpLiteral(v, inner))
    : Object.entries(value).map(([k, v]) => `${phpString(k)} => ${phpLiteral(v, inner)}`);
  return items.length === 0 ? '[]' : `[\n${items.map((i) => `${inner}${i},\n`).join('')}${indent}]`;
}

function phpFile(comment: string, body: string): string {
  return `<?php\n// Generated by test/helpers/simplesamlphp.ts: ${comment}\n${body}\n`;
}

/** Write via a temp file and rename, so a concurrent request never includes half a file. */
async function writeAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode: 0o644 });
  await rename(tmp, path);
}

async function writeStaticConfig(paths: Layout, users: IdpUser[], signResponse: boolean): Promise<void> {
  await writeAtomic(join(paths.configDir, 'authsources.php'), authSourcesPhp(users));
  await writeAtomic(join(paths.metadataDir, 'saml20-idp-hosted.php'), hostedIdpPhp(signResponse));
  await writeAtomic(join(paths.metadataDir, 'saml20-sp-remote.php'), spRemotePhp([]));
}

function authSourcesPhp(users: IdpUser[]): string {
  // PHP casts the key '0' to the integer 0, where SimpleSAMLphp expects the source's class.
  const source: Record<string, PhpValue> = { 0: 'exampleauth:UserPass' };
  for (const user of users) {
    // exampleauth:UserPass splits its keys at the first ':'.
    if (user.username.includes(':')) throw new Error(`username may not contain ':' (${user.username})`);
    source[`${user.username}:${user.password}`] = user.attributes;
  }
  return phpFile('users of the test IdP', `$config = ${phpLiteral({ [AUTH_SOURCE]: source })};`);
}

function hostedIdpPhp(signResponse: boolean): string {
  const hosted: PhpValue = {
    host: '__DEFAULT__',
    privatekey: 'idp.key',
    certificate: 'idp.crt',
    auth: AUTH_SOURCE,
    'saml20.sign.assertion': true,
    'saml20.sign.response': signResponse,
    'sign.logout': true,
    'signature.algorithm': RSA_SHA256,
    // Advertised in metadata. When a request names no format, SimpleSAMLphp uses the SP's
    // NameIDFormat, else the first of these; each authproc below fills one format.
    NameIDFormat: [NAMEID_EMAIL, NAMEID_PERSISTENT, NAMEID_TRANSIENT],
    'attributes.NameFormat': NAME_FORMAT_BASIC,
    SingleSignOnServiceBinding: [BINDING_REDIRECT, BINDING_POST],
    SingleLogoutServiceBinding: [BINDING_REDIRECT, BINDING_POST],
    authproc: {
      10: { class: 'saml:AttributeNameID', attribute: 'email', Format: NAMEID_EMAIL },
      11: { class: 'saml:PersistentNameID', attribute: 'email' },
      12: { class: 'saml:TransientNameID' },
    },
  };
  return phpFile('hosted IdP, entity ID <baseurl>saml2/idp/metadata.php', `$metadata['__DYNAMIC:1__'] = ${phpLiteral(hosted)};`);
}

function spRemotePhp(sps: SpRegistration[]): string {
  const entries = sps.map((sp) => `$metadata[${phpString(sp.entityId)}] = ${phpLiteral(spMetadata(sp))};`);
  return phpFile('SPs trusted by the test IdP (re-read on every request)', entries.join('\n\n'));
}

function spMetadata(sp: SpRegistration): PhpValue {
  const meta: Record<string, PhpValue> = {
    AssertionConsumerService: [{ Binding: BINDING_POST, Location: sp.acsUrl, index: 0, isDefault: true }],
    NameIDFormat: NAMEID_EMAIL,
    'simplesaml.nameidattribute': 'email',
    'attributes.NameFormat': NAME_FORMAT_BASIC,
    'assertion.encryption': sp.encryptAssertions ?? false,
    'validate.authnrequest': sp.requireSignedRequests ?? false,
    'sign.logout': true,
  };
  if (sp.sloUrl) {
    const binding = { redirect: BINDING_REDIRECT, post: BINDING_POST };
    meta.SingleLogoutService = (sp.sloBindings ?? ['redirect']).map((b) => ({ Binding: binding[b], Location: sp.sloUrl! }));
  }
  if (sp.validateLogout) meta['validate.logout'] = true;
  if (sp.certPem && !sp.encryptionCertPem) meta.certData = certBase64(sp.certPem, 'certPem');
  if (sp.certPem && sp.encryptionCertPem) {
    // SimpleSAMLphp's `keys` form: one certificate per use (getPublicKeys('encryption') takes the first).
    const key = (pem: string, use: 'signing' | 'encryption') => ({ type: 'X509Certificate', signing: use === 'signing', encryption: use === 'encryption', X509Certificate: certBase64(pem, use) });
    meta.keys = [key(sp.certPem, 'signing'), key(sp.encryptionCertPem, 'encryption')];
  }
  return meta;
}

function validateSp(sp: SpRegistration): void {
  new URL(sp.acsUrl);
  if (sp.sloUrl) new URL(sp.sloUrl);
  if ((sp.encryptAssertions || sp.requireSignedRequests || sp.validateLogout) && !sp.certPem) {
    throw new Error(`SP ${sp.entityId}: encryptAssertions/requireSignedRequests/validateLogout need certPem`);
  }
}

function configPhp(paths: Layout, baseUrl: string, host: string): string {
  const id = randomBytes(6).toString('hex');
  const overrides: PhpValue = {
    baseurlpath: baseUrl,
    certdir: `${paths.certDir}/`,
    loggingdir: `${paths.logDir}/`,
    datadir: `${paths.dataDir}/`,
    tempdir: paths.tmpDir,
    metadatadir: `${paths.metadataDir}/`,
    'metadata.sources': [{ type: 'flatfile', directory: `${paths.metadataDir}/` }],
    secretsalt: randomBytes(24).toString('hex'),
    'auth.adminpassword': randomBytes(12).toString('hex'),
    'admin.protectindexpage': false,
    'admin.protectmetadata': false,
    technicalcontact_name: 'Gatehouse tests',
    technicalcontact_email: 'tests@example.com',
    timezone: 'UTC',
    'logging.handler': 'file',
    'logging.logfile': 'simplesamlphp.log',
    'logging.level': new PhpCode('\\SimpleSAML\\Logger::INFO'),
    showerrors: true,
    'enable.saml20-idp': true,
    'enable.shib13-idp': false,
    'module.enable': { exampleauth: true, core: true, saml: true },
    // Release attributes as-is: Debian's default authproc.idp adds preferredLanguage from a cookie.
    'authproc.idp': [],
    'store.type': 'phpsession',
    'session.phpsession.savepath': paths.sessionDir,
    // Plain http on loopback: no Secure, no SameSite=None (Chromium drops that without Secure).
    // Cookies ignore ports, so scope them to the IdP path and give this instance its own names.
    'session.cookie.secure': false,
    'session.cookie.samesite': null,
    'session.cookie.path': '/simplesaml/',
    'session.cookie.name': `GhIdpSession-${id}`,
    'session.phpsession.cookiename': `GhIdpPhp-${id}`,
    'session.authtoken.cookiename': `GhIdpAuthToken-${id}`,
    'language.available': ['en'],
    'language.cookie.path': '/simplesaml/',
    'language.cookie.secure': false,
    'language.cookie.samesite': null,
    'trusted.url.domains': [host],
  };
  return phpFile(
    'Debian defaults + test overrides',
    `require ${phpString(SSP_DEBIAN_CONFIG)};\n$config = array_merge($config, ${phpLiteral(overrides)});`,
  );
}

// ---------------------------------------------------------------------------------------------
// Apache

function httpdConf(paths: Layout, host: string, port: number): string {
  const www = join(SSP_ROOT, 'www');
  return `# Generated by test/helpers/simplesamlphp.ts: private Apache for one test IdP
${httpdServerLines(paths, host, port, APACHE_USER)}
${loadModules('mod_mpm_prefork.so', 'mod_authz_core.so', 'mod_mime.so', 'mod_dir.so', 'mod_alias.so', 'mod_env.so')}
${loadModule('php_module', 'libphp8.2.so')}
TypesConfig /etc/mime.types
StartServers 2
MinSpareServers 2
MaxSpareServers 6
MaxRequestWorkers 16
KeepAlive On
KeepAliveTimeout 5
LogFormat "%h %t \\"%r\\" %>s %b %D" timing
CustomLog "${join(paths.runDir, 'access.log')}" timing
<Directory />
    AllowOverride None
    Require all denied
</Directory>
Alias /simplesaml "${www}"
<Directory "${www}">
    Require all granted
    DirectoryIndex index.php
    SetEnv SIMPLESAMLPHP_CONFIG_DIR "${paths.configDir}"
    <FilesMatch "\\.php$">
        SetHandler application/x-httpd-php
    </FilesMatch>
</Directory>
php_admin_value session.save_path "${paths.sessionDir}"
php_admin_value error_log "${join(paths.logDir, 'php-error.log')}"
# Opcache would serve a rewritten saml20-sp-remote.php stale for up to 2 s; check mtimes always.
php_admin_value opcache.revalidate_freq 0
`;
}

/** Writes config.php and httpd.conf for each port tried, starts Apache, waits for the metadata. */
async function startIdp(paths: Layout, host: string, publicHost: string): Promise<RunningIdp> {
  const port = await startApache(paths, {
    host,
    configure: async (p) => {
      await writeAtomic(join(paths.configDir, 'config.php'), configPhp(paths, idpBaseUrl(publicHost, p), publicHost));
      await writeAtomic(paths.httpdConf, httpdConf(paths, host, p));
    },
    logTail: () => idpLogTail(paths),
  });
  const idp = runningIdp(paths, idpBaseUrl(publicHost, port), `${idpBaseUrl(host, port)}saml2/idp/metadata.php`);
  await waitUntilReady(paths, idp.localMetadataUrl).catch(async (err: unknown) => {
    await idp.stop().catch(() => undefined);
    throw err;
  });
  return idp;
}

function idpBaseUrl(host: string, port: number): string {
  return `http://${hostForUrl(host)}:${port}/simplesaml/`;
}

/** Apache's, SimpleSAMLphp's and PHP's logs. */
function idpLogTail(paths: Layout): string {
  return logTail([paths.errorLog, join(paths.logDir, 'simplesamlphp.log'), join(paths.logDir, 'php-error.log')]);
}

async function waitUntilReady(paths: Layout, metadataUrl: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(metadataUrl, { signal: AbortSignal.timeout(3_000) });
      const body = await res.text();
      if (res.status === 200 && body.includes('IDPSSODescriptor')) return;
      last = `HTTP ${res.status}: ${body.slice(0, 300)}`;
    } catch (err) {
      last = String(err);
    }
    const pid = readPid(paths);
    if (pid !== undefined && !isRunning(pid)) break;
    await sleep(100);
  }
  throw new Error(`SimpleSAMLphp IdP not ready at ${metadataUrl} (${last})\n${idpLogTail(paths)}`);
}

// ---------------------------------------------------------------------------------------------
// Stopping (by pid only, never by name)

/** Waits briefly for the PidFile (the daemon writes it just after `-k start` returns), then stops that pid. */
async function stopIdpApache(paths: Layout): Promise<void> {
  const pid = await waitForPid(paths, 2_000);
  if (pid !== undefined) await stopApache(paths, pid);
}

// ---------------------------------------------------------------------------------------------
// Running instances, and best-effort cleanup when the test process ends without stop()

const running = new Map<string, Layout>();
const CLEANUP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** Synchronous (exit handlers can't wait): what `apache2 -k stop` does, then remove the dirs. */
function stopAllSync(): void {
  for (const paths of running.values()) {
    const pid = readPid(paths);
    if (pid !== undefined && isRunning(pid)) killQuietly(pid, 'SIGTERM');
    rmSync(paths.dir, { recursive: true, force: true });
  }
  running.clear();
  detachCleanup();
}

/**
 * The daemonized Apache is in its own session, so a Ctrl-C never reaches it: clean up, then
 * re-raise the signal for its default action unless someone else handles it.
 */
function onSignal(signal: NodeJS.Signals): void {
  stopAllSync();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function attachCleanup(): void {
  process.on('exit', stopAllSync);
  for (const signal of CLEANUP_SIGNALS) process.on(signal, onSignal);
}

function detachCleanup(): void {
  process.off('exit', stopAllSync);
  for (const signal of CLEANUP_SIGNALS) process.off(signal, onSignal);
}

function track(paths: Layout): void {
  if (running.size === 0) attachCleanup();
  running.set(paths.dir, paths);
}

function untrack(paths: Layout): void {
  running.delete(paths.dir);
  if (running.size === 0) detachCleanup();
}

function runningIdp(paths: Layout, baseUrl: string, localMetadataUrl: string): RunningIdp {
  const sps = new Map<string, SpRegistration>();
  let stopping: Promise<void> | undefined;
  track(paths);
  return {
    baseUrl,
    entityId: `${baseUrl}saml2/idp/metadata.php`,
    metadataUrl: `${baseUrl}saml2/idp/metadata.php`,
    ssoUrl: `${baseUrl}saml2/idp/SSOService.php`,
    sloUrl: `${baseUrl}saml2/idp/SingleLogoutService.php`,
    localMetadataUrl,
    dir: paths.dir,
    logFile: join(paths.logDir, 'simplesamlphp.log'),
    async registerSp(sp) {
      validateSp(sp);
      sps.set(sp.entityId, { ...sp });
      await writeAtomic(join(paths.metadataDir, 'saml20-sp-remote.php'), spRemotePhp([...sps.values()]));
    },
    stop() {
      stopping ??= (async () => {
        try {
          await stopIdpApache(paths);
        } finally {
          untrack(paths);
          await rm(paths.dir, { recursive: true, force: true });
        }
      })();
      return stopping;
    },
  };
}
