import { inflateRawSync } from 'node:zlib';
import { SAML, ValidateInResponseTo, type Profile } from '@node-saml/node-saml';
import type { Clock } from '../clock.js';
import type { ConnectionConfig } from '../config/schema.js';
import { fail, isGatehouseError } from '../errors.js';
import type { GroupsSeen } from '../policy/groups-seen.js';
import type { Identity } from '../policy/types.js';
import type { Session } from '../session/types.js';
import { checkAssertion } from './assertion-checks.js';
import { mapIdentity } from './identity-mapping.js';
import type { IdpSource } from './idp-source.js';
import type { LoginTracker } from './login-tracker.js';
import { classifyNodeSamlError } from './node-saml-errors.js';
import type { ReplayCache } from './replay-cache.js';
import type { SpKeys } from './sp-keys.js';
import { inspectResponse, type ResponseEnvelope } from './response-guard.js';

/** The URLs of one connection, derived from public_url and its id. */
export interface SpUrls {
  entityId: string;
  acsUrl: string;
  loginUrl: string;
  metadataUrl: string;
}

/** Shared collaborators and settings of every connection. */
export interface SpDeps {
  tracker: LoginTracker;
  replay: ReplayCache;
  clock: Clock;
  skewMs: number;
  maxResponseBytes: number;
  loginTimeoutMs: number;
  /** Told the groups of every successful login, for `gatehouse check`'s group-name lint. */
  groupsSeen?: GroupsSeen;
  /** Gatehouse's own keys (`saml.sp_keys`), when configured. */
  spKeys?: SpKeys;
}

/** The result of a successful login. */
export interface LoginResult {
  identity: Identity;
  saml: Session['saml'];
  /** Where the user wanted to go (for IdP-initiated: RelayState, unchecked; the caller checks it). */
  returnTo: string | undefined;
  authnInstant?: number;
}

/**
 * One SAML connection: our SP for one IdP. node-saml does the XML-DSig and the Conditions
 * checks; this class adds what node-saml 5.1 leaves to its callers and binds every login to the
 * browser that started it.
 */
export class ServiceProvider {
  /** For responses that carry a Response-level signature: it must verify. */
  private readonly signedResponses: SAML;
  /** For responses signed only at the assertion (the common IdP default). */
  private readonly signedAssertions: SAML;

  constructor(
    readonly conn: ConnectionConfig,
    readonly urls: SpUrls,
    private readonly idp: IdpSource,
    private readonly deps: SpDeps,
  ) {
    this.signedResponses = this.build(true);
    this.signedAssertions = this.build(false);
  }

  /** The IdP's entity ID as currently published. */
  get idpEntityId(): string {
    return this.idp.current.entityId;
  }

  /** SP metadata XML to give to the IdP. */
  metadataXml(): string {
    return this.signedAssertions.generateServiceProviderMetadata(null, null);
  }

  /**
   * Starts an SP-initiated login (HTTP-Redirect binding). `returnTo` must already be checked.
   * @returns the IdP URL to redirect the browser to
   */
  async startLogin(returnTo: string, nonce: string): Promise<string> {
    const relayState = this.deps.tracker.newRelayState();
    const url = await this.signedAssertions.getAuthorizeUrlAsync(relayState, undefined, {});
    const requestId = requestIdOf(url);
    await this.deps.tracker.start(relayState, { requestId, connection: this.conn.id, returnTo }, nonce);
    return url;
  }

  /**
   * Verifies a POSTed SAMLResponse and returns who logged in. Any failure throws
   * SAML_LOGIN_FAILED with a private reason and changes nothing: the login stays pending (so a
   * forged post cannot cancel it) until a verified response consumes it, once.
   */
  async finishLogin(samlResponse: string, relayState: string | undefined, nonce: string | undefined): Promise<LoginResult> {
    const env = inspectResponse(samlResponse, this.deps.maxResponseBytes);
    const { requestId, returnTo } = await this.matchRequest(env, relayState, nonce);
    this.checkEnvelope(env);
    const profile = await this.verify(env, samlResponse);
    const checked = checkAssertion(profile.getAssertionXml!(), {
      idpEntityId: this.idpEntityId,
      acsUrl: this.urls.acsUrl,
      requestId,
      nowMs: this.deps.clock.now(),
      skewMs: this.deps.skewMs,
    });
    if (checked.id !== env.assertionId) throw fail('SAML_LOGIN_FAILED', 'assertion-id-mismatch');
    const identity = mapIdentity(profile, this.conn);
    const claim = await this.deps.replay.claim(this.idpEntityId, checked.id, checked.usableUntil);
    if (claim !== 'claimed') throw fail('SAML_LOGIN_FAILED', claim === 'full' ? 'replay-cache-full' : 'assertion-replayed');
    if (requestId) await this.deps.tracker.complete(relayState!, requestId);
    this.deps.groupsSeen?.record(identity);
    return {
      identity,
      saml: {
        nameId: profile.nameID,
        nameIdFormat: profile.nameIDFormat,
        ...(profile.nameQualifier ? { nameQualifier: profile.nameQualifier } : {}),
        ...(profile.spNameQualifier ? { spNameQualifier: profile.spNameQualifier } : {}),
        sessionIndex: profile.sessionIndex,
        issuer: this.idpEntityId,
      },
      returnTo,
      authnInstant: checked.authnInstant,
    };
  }

  /** SP-initiated (InResponseTo present) must match this browser's login; otherwise IdP-initiated. */
  private async matchRequest(env: ResponseEnvelope, relayState: string | undefined, nonce: string | undefined) {
    if (env.inResponseTo) {
      if (!relayState) throw fail('SAML_LOGIN_FAILED', 'relay-state-missing');
      const login = await this.deps.tracker.find(relayState, nonce, this.conn.id);
      if (login.requestId !== env.inResponseTo) throw fail('SAML_LOGIN_FAILED', 'in-response-to-mismatch');
      return { requestId: login.requestId, returnTo: login.returnTo };
    }
    if (!this.conn.allow_idp_initiated) throw fail('SAML_LOGIN_FAILED', 'unsolicited-response');
    return { requestId: undefined, returnTo: relayState };
  }

  /** SAML bindings 3.5.5.2: Destination must be our ACS (and present when the response is signed). */
  private checkEnvelope(env: ResponseEnvelope): void {
    if (env.destination !== undefined && env.destination !== this.urls.acsUrl) throw fail('SAML_LOGIN_FAILED', 'destination-mismatch');
    if (env.responseSigned && env.destination === undefined) throw fail('SAML_LOGIN_FAILED', 'destination-missing');
    if (env.issuer !== undefined && env.issuer !== this.idpEntityId) throw fail('SAML_LOGIN_FAILED', 'issuer-mismatch');
  }

  private async verify(env: ResponseEnvelope, samlResponse: string): Promise<Profile> {
    const saml = env.responseSigned ? this.signedResponses : this.signedAssertions;
    let result: { profile: Profile | null };
    try {
      result = await saml.validatePostResponseAsync({ SAMLResponse: samlResponse });
    } catch (err) {
      if (isGatehouseError(err)) throw err;
      throw fail('SAML_LOGIN_FAILED', classifyNodeSamlError(err), err);
    }
    if (!result.profile || typeof result.profile.getAssertionXml !== 'function') throw fail('SAML_LOGIN_FAILED', 'no-profile');
    return result.profile;
  }

  private build(wantResponseSigned: boolean): SAML {
    return new SAML({
      entryPoint: this.idp.current.sso.redirect!,
      callbackUrl: this.urls.acsUrl,
      issuer: this.urls.entityId,
      // Audience restriction (SAML core 2.5.1.4) must name us exactly.
      audience: this.urls.entityId,
      idpIssuer: this.idp.current.entityId,
      // Read on every verification, so a metadata refresh (key rollover) applies at once.
      idpCert: (cb) => cb(null, this.idp.current.signingCerts),
      // An unsigned assertion inside a signed response could be swapped by anyone able to
      // re-sign nothing: we require the assertion's own signature always.
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: wantResponseSigned,
      // node-saml's default is SHA-1 (RFC 6194: broken for signatures).
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      acceptedClockSkewMs: this.deps.skewMs,
      maxAssertionAgeMs: this.deps.loginTimeoutMs,
      // node-saml's default is `never`; an unchecked InResponseTo lets responses be replayed
      // into logins they were not issued for.
      validateInResponseTo: this.conn.allow_idp_initiated ? ValidateInResponseTo.ifPresent : ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: this.deps.loginTimeoutMs,
      // node-saml's default cache lives in one process; ours lives in the shared state store.
      cacheProvider: this.deps.tracker.cacheProvider(),
      // Let the IdP choose the NameID format and the authentication method (MFA must not be
      // refused because we asked for "PasswordProtectedTransport" exactly).
      identifierFormat: null,
      disableRequestedAuthnContext: true,
    });
  }
}

/** Reads the ID of the AuthnRequest node-saml just built (we generated it; never untrusted). */
function requestIdOf(url: string): string {
  const encoded = new URL(url).searchParams.get('SAMLRequest');
  const xml = encoded ? inflateRawSync(Buffer.from(encoded, 'base64')).toString('utf8') : '';
  const id = /\sID="([^"]+)"/.exec(xml)?.[1];
  if (!id) throw fail('INTERNAL', 'authn-request-without-id');
  return id;
}
