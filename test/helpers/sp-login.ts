import assert from 'node:assert/strict';
import { inflateRawSync } from 'node:zlib';
import type { LogCapture } from './log-capture.js';
import { buildSignedResponseXml, encodeResponse, type ResponseOptions } from './saml-idp-signer.js';
import { CookieJar, jarFetch } from './cookie-jar.js';

/** The test IdP's entity ID and SSO URL (nothing listens there: the test plays the IdP). */
export const TEST_IDP = { entityId: 'https://idp.test.example/metadata', ssoUrl: 'http://127.0.0.1:9/sso' };

/** An SP-initiated login in flight, as the test IdP sees it. */
export interface StartedLogin {
  jar: CookieJar;
  requestId: string;
  relayState: string;
  acsUrl: string;
  spEntityId: string;
}

/** GET /.gatehouse/saml/<id>/login and read the AuthnRequest the browser is sent to the IdP with. */
export async function startSpLogin(baseUrl: string, connection: string, opts: { jar?: CookieJar; rd?: string } = {}): Promise<StartedLogin> {
  const jar = opts.jar ?? new CookieJar();
  const res = await jarFetch(jar, `${baseUrl}/.gatehouse/saml/${connection}/login?rd=${encodeURIComponent(opts.rd ?? '/')}`);
  if (res.status !== 302) throw new Error(`login start answered ${res.status}: ${await res.text()}`);
  return loginFromIdpRedirect(res.headers.get('location')!, jar, baseUrl, connection);
}

/** The login in flight that a redirect to the IdP (with its SAMLRequest) stands for. */
export function loginFromIdpRedirect(idpUrl: string, jar: CookieJar, baseUrl: string, connection: string): StartedLogin {
  const location = new URL(idpUrl);
  const xml = inflateRawSync(Buffer.from(location.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
  return {
    jar,
    requestId: /\sID="([^"]+)"/.exec(xml)![1]!,
    relayState: location.searchParams.get('RelayState')!,
    acsUrl: `${baseUrl}/.gatehouse/saml/${connection}/acs`,
    spEntityId: `${baseUrl}/.gatehouse/saml/${connection}/metadata`,
  };
}

/**
 * Asserts an ACS refusal: 403 SAML_LOGIN_FAILED, no session cookie, exactly one `login-failed`
 * line for this request with this reason. @returns the body
 */
export async function assertLoginRefused(res: Response, logs: LogCapture, reason: string): Promise<string> {
  const body = await res.text();
  assert.equal(res.status, 403, body);
  assert.match(body, /SAML_LOGIN_FAILED/);
  assert.ok(!res.headers.getSetCookie().some((c) => c.startsWith('gatehouse_session=')), 'no session cookie');
  const lines = logs.find((l) => l.event === 'login-failed' && l.req_id === res.headers.get('x-request-id'));
  assert.equal(lines.length, 1, `one login-failed line for ${res.headers.get('x-request-id')}`);
  assert.equal(lines[0]!.reason, reason);
  return body;
}

/** The genuine response the test IdP would send for this login (XML, unsigned parts editable). */
export function genuineResponseXml(login: StartedLogin, nameId: string, extra: Partial<ResponseOptions> = {}): string {
  return buildSignedResponseXml({
    idpEntityId: TEST_IDP.entityId,
    spEntityId: login.spEntityId,
    acsUrl: login.acsUrl,
    inResponseTo: login.requestId,
    nameId,
    attributes: { email: [nameId], groups: ['ml-engineers'] },
    ...extra,
  });
}

/** POSTs a SAMLResponse (XML, base64-encoded here unless `raw`) to the ACS. */
export async function postResponse(login: StartedLogin, xmlOrBase64: string, opts: { raw?: boolean; relayState?: string | null; jar?: CookieJar; acsUrl?: string } = {}): Promise<Response> {
  const form = new URLSearchParams({ SAMLResponse: opts.raw ? xmlOrBase64 : encodeResponse(xmlOrBase64) });
  const relay = opts.relayState === undefined ? login.relayState : opts.relayState;
  if (relay !== null) form.set('RelayState', relay);
  return jarFetch(opts.jar ?? login.jar, opts.acsUrl ?? login.acsUrl, { method: 'POST', body: form });
}

/** Signs a user in through the real SP-initiated flow with the test IdP; returns the browser's jar. */
export async function signIn(baseUrl: string, connection: string, nameId: string, groups: string[] | null): Promise<CookieJar> {
  const login = await startSpLogin(baseUrl, connection);
  const attributes: Record<string, string[]> = { email: [nameId] };
  if (groups) attributes.groups = groups;
  const res = await postResponse(login, genuineResponseXml(login, nameId, { attributes }));
  if (res.status !== 303) throw new Error(`sign-in failed: ${res.status} ${await res.text()}`);
  return login.jar;
}
