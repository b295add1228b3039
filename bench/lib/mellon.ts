/**
 * Apache 2.4 + mod_auth_mellon as a benchmark baseline: a private Apache (own temp dir, config,
 * PidFile, runtime dir and error log) on 127.0.0.1 that reverse-proxies to the upstream behind
 * `AuthType Mellon` / `MellonEnable auth` / `Require valid-user`, signed in with a valid mellon
 * session so the benchmark loads authenticated requests, as it does for Gatehouse.
 *
 * The session comes from an IdP-initiated login: the project's test IdP signer builds and signs a
 * SAML Response (no InResponseTo), which is POSTed to /mellon/postResponse. mod_auth_mellon 0.18
 * only demands its `mellon-cookie=cookietest` cookie for SP-initiated responses (InResponseTo
 * set), so no cookie test is needed. Stopped with `apache2 -k stop` on the same config and
 * waited for by pid; never by name.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import {
  APACHE_BIN,
  APACHE_MODULES,
  APACHE_USER,
  certBase64,
  childOwner,
  generateKeyPair,
  httpdServerLines,
  isRunning,
  loadModules,
  logTail,
  startApache,
  stopApache,
  waitForPid,
  type PrivateApache,
} from '../../test/helpers/private-apache.js';
import { buildSignedResponseXml, encodeResponse, escapeXml } from '../../test/helpers/saml-idp-signer.js';
import { IDP_KEYS } from '../../test/helpers/test-keys.js';
import { waitForPort } from './free-port.js';

const REQUIRED_MODULES = ['mod_mpm_event.so', 'mod_proxy.so', 'mod_proxy_http.so', 'mod_auth_mellon.so', 'mod_authn_core.so', 'mod_authz_core.so', 'mod_authz_user.so'];
const IDP_ENTITY_ID = 'https://idp.bench.example/metadata';
/** Advertised in the IdP metadata (lasso wants an SSO service); nothing serves it. */
const IDP_SSO_URL = 'https://idp.bench.example/sso';
/** How long the daemon gets to write its PidFile after `apache2 -k start`. */
const PID_TIMEOUT_MS = 10_000;

/** True when Apache, the modules this baseline loads (mod_auth_mellon included) and openssl are installed. */
export function mellonAvailable(): boolean {
  if (!existsSync(APACHE_BIN)) return false;
  if (!REQUIRED_MODULES.every((m) => existsSync(join(APACHE_MODULES, m)))) return false;
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
}

/** Options of {@link startMellon}; defaults in brackets. */
export interface MellonOptions {
  /** The upstream, e.g. `http://127.0.0.1:PORT/`. */
  upstreamUrl: string;
  /**
   * mpm_event child processes [1]. Measured here, 1 × 64 threads and 2 × 32 threads give the
   * same req/s and CPU per request on the 2 shared cores (1 has the slightly lower p99); one
   * process matches nginx's `worker_processes 1` and one Gatehouse process, and its threads
   * still use both cores. The count is fixed either way, so no child is forked after the CPU
   * meter has read the process tree.
   */
  processes?: number;
  /** mpm_event `ThreadsPerChild` [64: more than wrk's 50 connections, so no request waits for a thread]. */
  threadsPerChild?: number;
}

/** A running private Apache + mod_auth_mellon with a signed-in session. */
export interface Mellon {
  url: string;
  port: number;
  /** Apache parent pid; its children (the mpm_event processes) are counted by the CPU meter. */
  pid: number;
  /** Cookie header value of an authenticated session (`mellon-cookie=…`). */
  cookie: string;
  /**
   * Rejects unless the session still works (200 with the upstream's body; 303 without it). Call
   * it after a run: wrk counts only 4xx/5xx as failures, so a lost session's 303s would pass.
   */
  verify(): Promise<void>;
  /** The private instance's directory (config, metadata, keys, error.log). */
  dir: string;
  stop(): Promise<void>;
}

/** The private Apache's files, plus mellon's keys, metadata and lock file. */
interface Layout extends PrivateApache {
  spKey: string;
  spCert: string;
  spMetadata: string;
  idpMetadata: string;
  lockFile: string;
}

/**
 * Starts the private Apache on a free loopback port, logs in through its ACS with a signed
 * IdP-initiated Response, and checks the session: with the cookie a GET returns the upstream's
 * 200 body, without it mellon answers 303 (to its login endpoint).
 */
export async function startMellon(options: MellonOptions): Promise<Mellon> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-mellon-'));
  const paths: Layout = {
    dir,
    httpdConf: join(dir, 'httpd.conf'),
    pidFile: join(dir, 'run', 'httpd.pid'),
    runDir: join(dir, 'run'),
    errorLog: join(dir, 'error.log'),
    spKey: join(dir, 'sp.key'),
    spCert: join(dir, 'sp.crt'),
    spMetadata: join(dir, 'sp-metadata.xml'),
    idpMetadata: join(dir, 'idp-metadata.xml'),
    lockFile: join(dir, 'run', 'mellon.lock'),
  };
  let pid: number | undefined;
  const stop = async (): Promise<void> => {
    if (pid !== undefined) await stopApache(paths, pid);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await prepareDir(paths);
    const port = await startApache(paths, {
      configure: (p) => writeMetadataAndConfig(paths, p, options),
      logTail: () => errorLogTail(paths),
    });
    pid = await waitForRunningPid(paths);
    await waitForPort(port, '127.0.0.1', 10_000);
    const url = `http://127.0.0.1:${port}/`;
    const cookie = await login(url, port);
    await verifySession(url, cookie, options.upstreamUrl);
    return { url, port, pid, cookie, dir, stop, verify: () => verifySession(url, cookie, options.upstreamUrl) };
  } catch (err) {
    const tail = errorLogTail(paths);
    await stop().catch(() => {});
    if (err instanceof Error && tail && !err.message.includes(tail)) err.message += `\n${tail}`;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Files

/** Root runs the children as www-data: everything readable by it, the SP key by root and www-data only. */
async function prepareDir(p: Layout): Promise<void> {
  chmodSync(p.dir, 0o755);
  mkdirSync(p.runDir, { mode: 0o755 });
  await generateKeyPair({ key: p.spKey, cert: p.spCert, subject: '/CN=gatehouse-bench-mellon-sp', owner: childOwner() });
}

function writeMetadataAndConfig(p: Layout, port: number, o: MellonOptions): void {
  const base = `http://127.0.0.1:${port}`;
  writeFileSync(p.spMetadata, spMetadataXml(base, certBase64(readFileSync(p.spCert, 'utf8'))), { mode: 0o644 });
  writeFileSync(p.idpMetadata, idpMetadataXml(), { mode: 0o644 });
  writeFileSync(p.httpdConf, httpdConf(p, port, o), { mode: 0o644 });
}

/** SP entity ID and ACS of the instance on `base`. */
export function mellonUrls(base: string): { entityId: string; acsUrl: string } {
  return { entityId: `${base}/mellon/metadata`, acsUrl: `${base}/mellon/postResponse` };
}

function spMetadataXml(base: string, cert: string): string {
  const { entityId, acsUrl } = mellonUrls(base);
  return `<?xml version="1.0" encoding="UTF-8"?>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${escapeXml(entityId)}">
  <SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${escapeXml(`${base}/mellon/logout`)}"/>
    <NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>
    <AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${escapeXml(acsUrl)}" index="0" isDefault="true"/>
  </SPSSODescriptor>
</EntityDescriptor>
`;
}

function idpMetadataXml(): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${IDP_ENTITY_ID}">
  <IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${IDP_KEYS.certBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>
    <NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${IDP_SSO_URL}"/>
  </IDPSSODescriptor>
</EntityDescriptor>
`;
}

/**
 * The private Apache: mpm_event (Debian's default; mod_auth_mellon is thread-safe: its session
 * cache is shared memory behind a global mutex, so it needs no prefork) with a fixed number of
 * processes, keep-alive without a request cap (as nginx's keepalive_requests 1000000), no access
 * log (as nginx), mod_proxy with a keep-alive connection pool to the upstream, and mellon on `/`.
 */
function httpdConf(p: Layout, port: number, o: MellonOptions): string {
  const processes = o.processes ?? 1;
  const threads = o.threadsPerChild ?? 64;
  const upstream = `${o.upstreamUrl.replace(/\/+$/, '')}/`;
  const { entityId } = mellonUrls(`http://127.0.0.1:${port}`);
  const asRoot = userInfo().uid === 0;
  return `# Generated by bench/lib/mellon.ts: private Apache + mod_auth_mellon benchmark baseline
${httpdServerLines(p, '127.0.0.1', port, asRoot ? APACHE_USER : undefined)}
${loadModules('mod_mpm_event.so', 'mod_authn_core.so', 'mod_authz_core.so', 'mod_authz_user.so', 'mod_proxy.so', 'mod_proxy_http.so', 'mod_auth_mellon.so')}

# A fixed set of ${processes} process(es) x ${threads} threads: never more (ServerLimit), and enough
# spare-thread slack that mpm_event neither forks nor reaps children under or after load.
StartServers ${processes}
ServerLimit ${processes}
ThreadLimit ${threads}
ThreadsPerChild ${threads}
MaxRequestWorkers ${processes * threads}
MinSpareThreads 1
MaxSpareThreads ${processes * threads}
MaxConnectionsPerChild 0

KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 5

<Directory />
    AllowOverride None
    Require all denied
</Directory>

# Upstream: a keep-alive pool per child (keepalive=On: TCP keep-alive on the pooled sockets;
# enablereuse=On: reuse the backend connections, the default for this kind of worker anyway).
ProxyPass /mellon/ !
ProxyPass / ${upstream} keepalive=On enablereuse=On
ProxyPassReverse / ${upstream}

MellonCacheSize 100
MellonLockFile "${p.lockFile}"

<Location />
    AuthType Mellon
    MellonEnable auth
    Require valid-user
    MellonEndpointPath /mellon
    MellonSPentityId "${entityId}"
    MellonSPMetadataFile "${p.spMetadata}"
    MellonSPPrivateKeyFile "${p.spKey}"
    MellonSPCertFile "${p.spCert}"
    MellonIdPMetadataFile "${p.idpMetadata}"
    MellonSecureCookie Off
    MellonUser NAME_ID
</Location>
`;
}

// ---------------------------------------------------------------------------------------------
// Session

/** POSTs a signed IdP-initiated Response to the ACS; returns `mellon-cookie=…` from Set-Cookie. */
async function login(url: string, port: number): Promise<string> {
  const { entityId, acsUrl } = mellonUrls(`http://127.0.0.1:${port}`);
  const xml = buildSignedResponseXml({
    idpEntityId: IDP_ENTITY_ID,
    spEntityId: entityId,
    acsUrl,
    nameId: 'bench@example.com',
    attributes: { email: ['bench@example.com'], groups: ['ml-engineers'] },
  });
  const body = new URLSearchParams({ SAMLResponse: encodeResponse(xml), RelayState: '/' });
  const res = await fetch(new URL('/mellon/postResponse', url), {
    method: 'POST',
    body,
    redirect: 'manual',
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (res.status !== 303) throw new Error(`mellon ACS answered ${res.status}, not 303: ${text.slice(0, 300)}`);
  if (res.headers.get('location') !== '/') throw new Error(`mellon ACS redirected to ${res.headers.get('location')}, not to the RelayState /`);
  for (const c of res.headers.getSetCookie()) {
    const m = /^(mellon-cookie=[0-9a-f]+)(;|$)/.exec(c);
    if (m) return m[1]!;
  }
  throw new Error(`mellon ACS set no session cookie: ${JSON.stringify(res.headers.getSetCookie())}`);
}

/** With the cookie: the upstream's own 200 and body; without: mellon's 303. */
async function verifySession(url: string, cookie: string, upstreamUrl: string): Promise<void> {
  const expected = await (await fetch(upstreamUrl, { signal: AbortSignal.timeout(5_000) })).text();
  const ok = await fetch(url, { headers: { cookie }, redirect: 'manual', signal: AbortSignal.timeout(5_000) });
  const okBody = await ok.text();
  if (ok.status !== 200 || okBody !== expected) {
    throw new Error(`GET with the mellon session: ${ok.status} ${JSON.stringify(okBody.slice(0, 200))}, not the upstream's 200 body`);
  }
  const anon = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(5_000) });
  await anon.arrayBuffer();
  if (anon.status !== 303) throw new Error(`GET without a session answered ${anon.status}, not mellon's 303`);
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** `apache2 -k start` returns once the daemon has forked; it writes the PidFile just after. */
async function waitForRunningPid(p: Layout): Promise<number> {
  const pid = await waitForPid(p, PID_TIMEOUT_MS);
  if (pid === undefined || !isRunning(pid)) {
    throw new Error(`apache2 left no running pid in ${p.pidFile} within ${PID_TIMEOUT_MS} ms`);
  }
  return pid;
}

function errorLogTail(p: Layout): string {
  return logTail([p.errorLog], 15);
}
