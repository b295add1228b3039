import { inflateRawSync } from 'node:zlib';
import { SAML, ValidateInResponseTo, type Profile } from '@node-saml/node-saml';
import type { Clock } from '../clock.js';
import type { ConnectionConfig } from '../config/schema.js';
import { fail, isGatehouseError } from '../errors.js';
import type { GroupsSeen } from '../policy/groups-seen.js';
import type { Identity } from '../policy/types.js';
import type { Session } from '../session/types.js';
import { checkAssertion } from './assertion-checks.js';
import type { DomainDirectory } from './email-domains.js';
import { askFor, askKey, authnRequestOptions, checkAuthn, type AuthnAsk, type StepUpAsk } from './authn-context.js';
import { mapIdentity } from './identity-mapping.js';
import type { IdpSource } from './idp-source.js';
import type { LoginTracker, PriorSignIn } from './login-tracker.js';
import type { PriorLineage } from '../session/types.js';
import { attributeNames, type AttributeNames } from './provider-presets.js';
import { classifyNodeSamlError } from './node-saml-errors.js';
import type { ReplayCache } from './replay-cache.js';
import { openEncryptedAssertion, sameAssertion, type OpenedAssertion } from './encrypted-assertion.js';
import type { SpKey, SpKeys } from '../config/sp-keys.js';
import { buildSpMetadata } from './sp-metadata.js';
import { inspectDecryptedAssertion, inspectResponse, type ResponseEnvelope } from './response-guard.js';

/** The URLs of one connection, derived from public_url and its id. */
export interface SpUrls {
  entityId: string;
  acsUrl: string;
  loginUrl: string;
  metadataUrl: string;
  /** Single Logout endpoint (published in metadata only when SP keys exist). */
  sloUrl: string;
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
  /** Email domains of every connection: logins in a domain another connection enforces are refused. */
  domains?: DomainDirectory;
}

/** The result of a successful login. */
export interface LoginResult {
  identity: Identity;
  saml: Session['saml'];
  /** Where the user wanted to go (for IdP-initiated: RelayState, unchecked; the caller checks it). */
  returnTo: string | undefined;
  /** Fingerprint of the SP key that decrypted the assertion (absent: it came unencrypted). */
  decryptedWith?: string;
  /** The session this login replaces (see PendingLogin.replaces): the caller ends it. */
  replaces?: string;
  /** The browser sign-in this login may continue (see PendingLogin.lineage). */
  lineage?: PriorLineage;
}

/**
 * A verified unsolicited response on a connection with `idp_initiated: restart`: nobody is signed
 * in; the caller starts a fresh SP-initiated login that lands on `returnTo` (RelayState, unchecked).
 */
export interface RestartLogin {
  restart: true;
  returnTo: string | undefined;
}

/**
 * One SAML connection: our SP for one IdP. node-saml does the XML-DSig and the Conditions
 * checks; this class adds what node-saml 5.1 leaves to its callers and binds every login to the
 * browser that started it.
 */
export class ServiceProvider {
  /**
   * Verifiers by [Response-level signature required?][decryption key index, or keys.length for
   * none]. node-saml takes one `decryptionPvk`, so each SP key gets its own instance. Gatehouse
   * first checks the EncryptedAssertion, finds the key it was encrypted to and decrypts it itself
   * (encrypted-assertion.ts); then only that key's instance decrypts it again and verifies the
   * signatures, so no key is ever tried against node-saml and no failure is retried.
   */
  private readonly verifiers: { true: SAML[]; false: SAML[] };
  /** Builds (and, with `sign_requests`, signs) AuthnRequests. */
  private readonly requester: SAML;
  /** Whether AuthnRequests are signed with the first SP key. */
  readonly signRequests: boolean;
  private readonly metadata: string;
  /** The attribute names this connection reads (provider preset + overrides), resolved once. */
  private readonly names: AttributeNames;
  /** AuthnRequest writers for asks other than the connection's own (step-up), by askKey. */
  private readonly requesters = new Map<string, SAML>();
  /** What this connection's own AuthnRequests ask (force_authn, authn_context), and its key. */
  private readonly ownAsk: AuthnAsk;
  private readonly ownAskKey: string;

  constructor(
    readonly conn: ConnectionConfig,
    readonly urls: SpUrls,
    private readonly idp: IdpSource,
    private readonly deps: SpDeps,
  ) {
    const keys = deps.spKeys?.all ?? [];
    this.signRequests = conn.sign_requests ?? keys.length > 0;
    if (this.signRequests && !deps.spKeys) throw new Error(`connection ${conn.id}: sign_requests needs saml.sp_keys`);
    const verifiersOf = (responseSigned: boolean) => [...keys.map((k) => this.build(responseSigned, { decryptWith: k })), this.build(responseSigned, {})];
    this.verifiers = { true: verifiersOf(true), false: verifiersOf(false) };
    this.requester = this.build(false, { signWith: this.signRequests ? deps.spKeys!.signing : undefined });
    this.metadata = buildSpMetadata({ entityId: urls.entityId, acsUrl: urls.acsUrl, sloUrl: urls.sloUrl, singleLogout: conn.single_logout !== false, keys, signRequests: this.signRequests, encryption: conn.encryption });
    this.names = attributeNames(conn);
    this.ownAsk = askFor(conn);
    this.ownAskKey = askKey(this.ownAsk);
  }

  /** The IdP's entity ID as currently published. */
  get idpEntityId(): string {
    return this.idp.current.entityId;
  }

  /** SP metadata XML to give to the IdP (built once: keys and URLs are fixed at startup). */
  metadataXml(): string {
    return this.metadata;
  }

  /**
   * Starts an SP-initiated login (HTTP-Redirect binding). `returnTo` must already be checked.
   * @returns the IdP URL to redirect the browser to
   */
  async startLogin(returnTo: string, nonce: string, stepUp?: StepUpAsk, prior: PriorSignIn = {}): Promise<string> {
    // SAML metadata 2.0 section 2.2.1: metadata past validUntil must not be used.
    if (this.idp.expired()) throw fail('IDP_METADATA_EXPIRED', 'idp-metadata-expired');
    const relayState = this.deps.tracker.newRelayState();
    const ask = askFor(this.conn, stepUp);
    const requester = this.requesterFor(ask);
    // The SSO URL of the metadata in use now (a refresh may have moved it).
    requester.options.entryPoint = this.idp.current.sso.redirect!;
    const url = await requester.getAuthorizeUrlAsync(relayState, undefined, {});
    const requestId = requestIdOf(url);
    await this.deps.tracker.start(relayState, { requestId, connection: this.conn.id, returnTo, ask, ...(prior.replaces ? { replaces: prior.replaces } : {}), ...(prior.lineage ? { lineage: prior.lineage } : {}) }, nonce);
    return url;
  }

  /**
   * The node-saml instance that writes AuthnRequests with this ask. node-saml 5.1 reads
   * ForceAuthn and RequestedAuthnContext only from its constructor options
   * (generateAuthorizeRequestAsync takes no per-call options, and changing shared options would
   * race across its awaits), so each distinct ask gets an instance built like the default one
   * (same keys and signing) and kept; writing AuthnRequests ourselves would duplicate node-saml's
   * request signing. Asks come from configuration only (the connection, a route's classes named
   * by route, a ForceAuthn flag), never from request text: a handful, capped anyway.
   */
  private requesterFor(ask: AuthnAsk): SAML {
    const key = askKey(ask);
    if (key === this.ownAskKey) return this.requester;
    let saml = this.requesters.get(key);
    if (!saml) {
      if (this.requesters.size >= 64) this.requesters.clear();
      saml = this.build(false, { signWith: this.signRequests ? this.deps.spKeys!.signing : undefined, ask });
      this.requesters.set(key, saml);
    }
    return saml;
  }

  /**
   * Verifies a POSTed SAMLResponse and returns who logged in. Any failure throws
   * SAML_LOGIN_FAILED with a private reason and changes nothing: the login stays pending (so a
   * forged post cannot cancel it) until a verified response consumes it, once. An unsolicited
   * response on an `idp_initiated: restart` connection is verified and used up, then answered
   * with a {@link RestartLogin}: it never signs anyone in.
   */
  async finishLogin(samlResponse: string, relayState: string | undefined, nonce: string | undefined): Promise<LoginResult | RestartLogin> {
    if (this.idp.expired()) throw fail('SAML_LOGIN_FAILED', 'idp-metadata-expired');
    const env = inspectResponse(samlResponse, this.deps.maxResponseBytes);
    const { requestId, returnTo, ask, startedAt, replaces, lineage } = await this.matchRequest(env, relayState, nonce);
    this.checkEnvelope(env);
    const opened = this.decrypt(env);
    const assertionId = opened ? inspectDecryptedAssertion(opened.xml) : env.assertionId;
    const profile = await this.verify(env, samlResponse, opened?.key);
    // node-saml hands xml-encryption `/*[local-name()='Response']/*[local-name()='EncryptedAssertion']`
    // (of the verified Response when it is signed): the guard allows exactly one element named
    // Assertion or EncryptedAssertion in any namespace, and it must be the saml: child checked
    // above, so both read the same element; openEncryptedAssertion fixes its whole layout so
    // xml-encryption's first-match look-ups read the key and content checked here. And as proof,
    // not only argument: the assertion the guard inspected must be, exc-c14n without Signature,
    // the one node-saml verified (profile.getAssertionXml()), not only carry the same ID.
    if (opened && !sameAssertion(opened.xml, profile.getAssertionXml!())) throw fail('SAML_LOGIN_FAILED', 'decrypted-assertion-mismatch');
    const checked = checkAssertion(profile.getAssertionXml!(), {
      idpEntityId: this.idpEntityId,
      acsUrl: this.urls.acsUrl,
      requestId,
      nowMs: this.deps.clock.now(),
      skewMs: this.deps.skewMs,
    });
    if (checked.id !== assertionId) throw fail('SAML_LOGIN_FAILED', 'assertion-id-mismatch');
    if (!requestId && this.conn.idp_initiated === 'restart') {
      // Used up like any other assertion, so a captured one cannot be replayed either way.
      await this.claimOnce(checked.id, checked.usableUntil);
      return { restart: true, returnTo };
    }
    const authn = { classRef: checked.authnContextClassRef, instant: checked.authnInstant };
    checkAuthn(authn, ask, this.conn, { loginStartedAt: startedAt, nowMs: this.deps.clock.now(), skewMs: this.deps.skewMs });
    const identity = mapIdentity(profile, this.conn, this.names);
    this.checkDomainOwner(identity);
    await this.claimOnce(checked.id, checked.usableUntil);
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
        authnContextClassRef: authn.classRef,
        authnInstant: authn.instant,
      },
      returnTo,
      decryptedWith: opened?.key.fingerprint256,
      ...(replaces ? { replaces } : {}),
      ...(lineage ? { lineage } : {}),
    };
  }

  /** SAML profiles 4.1.4.5: a bearer assertion is used once (until it expires). */
  private async claimOnce(assertionId: string, usableUntil: number): Promise<void> {
    const claim = await this.deps.replay.claim(this.idpEntityId, assertionId, usableUntil);
    if (claim !== 'claimed') throw fail('SAML_LOGIN_FAILED', claim === 'full' ? 'replay-cache-full' : 'assertion-replayed');
  }

  /**
   * `enforce: true` on a connection makes it the only way in for its email domains: any other
   * IdP asserting an address or user name in one of them is refused, whatever it signs.
   */
  private checkDomainOwner(identity: { email?: string; user: string }): void {
    for (const name of [identity.email, identity.user]) {
      const owner = this.deps.domains?.enforcedOwner(name);
      if (owner !== undefined && owner !== this.conn.id) throw fail('SAML_LOGIN_FAILED', 'domain-enforced-elsewhere');
    }
  }

  /** SP-initiated (InResponseTo present) must match this browser's login; otherwise IdP-initiated. */
  private async matchRequest(env: ResponseEnvelope, relayState: string | undefined, nonce: string | undefined) {
    if (env.inResponseTo) {
      if (!relayState) throw fail('SAML_LOGIN_FAILED', 'relay-state-missing');
      const login = await this.deps.tracker.find(relayState, nonce, this.conn.id);
      if (login.requestId !== env.inResponseTo) throw fail('SAML_LOGIN_FAILED', 'in-response-to-mismatch');
      return { requestId: login.requestId, returnTo: login.returnTo, ask: login.ask ?? this.ownAsk, startedAt: login.createdAt, replaces: login.replaces, lineage: login.lineage };
    }
    if (this.conn.idp_initiated === 'refuse') throw fail('SAML_LOGIN_FAILED', 'unsolicited-response');
    // Nothing was requested: the connection's classes still apply; ForceAuthn cannot (no start).
    return { requestId: undefined, returnTo: relayState, ask: this.ownAsk, startedAt: undefined, replaces: undefined, lineage: undefined };
  }

  /** SAML bindings 3.5.5.2: Destination must be our ACS (and present when the response is signed). */
  private checkEnvelope(env: ResponseEnvelope): void {
    if (env.destination !== undefined && env.destination !== this.urls.acsUrl) throw fail('SAML_LOGIN_FAILED', 'destination-mismatch');
    if (env.responseSigned && env.destination === undefined) throw fail('SAML_LOGIN_FAILED', 'destination-missing');
    if (env.issuer !== undefined && env.issuer !== this.idpEntityId) throw fail('SAML_LOGIN_FAILED', 'issuer-mismatch');
  }

  /**
   * An encrypted assertion is checked (shape, algorithms) and opened before node-saml sees it;
   * with `encryption.require` a plain one is refused: otherwise an attacker who can alter the
   * IdP's configuration or the response path downgrades confidentiality silently.
   */
  private decrypt(env: ResponseEnvelope): OpenedAssertion | undefined {
    if (!env.encryptedAssertion) {
      if (this.conn.encryption.require) throw fail('SAML_LOGIN_FAILED', 'assertion-not-encrypted');
      return undefined;
    }
    if (!this.deps.spKeys) throw fail('SAML_LOGIN_FAILED', 'no-sp-keys-to-decrypt');
    return openEncryptedAssertion(env.encryptedAssertion, this.deps.spKeys.all, this.conn.encryption);
  }

  private async verify(env: ResponseEnvelope, samlResponse: string, key: SpKey | undefined): Promise<Profile> {
    const keys = this.deps.spKeys?.all ?? [];
    const list = env.responseSigned ? this.verifiers.true : this.verifiers.false;
    const saml = list[key ? keys.indexOf(key) : keys.length]!;
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

  private build(wantResponseSigned: boolean, sp: { decryptWith?: SpKey; signWith?: SpKey; ask?: AuthnAsk }): SAML {
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
      validateInResponseTo: this.conn.idp_initiated === 'refuse' ? ValidateInResponseTo.always : ValidateInResponseTo.ifPresent,
      requestIdExpirationPeriodMs: this.deps.loginTimeoutMs,
      // node-saml's default cache lives in one process; ours lives in the shared state store.
      cacheProvider: this.deps.tracker.cacheProvider(),
      // Let the IdP choose the NameID format.
      identifierFormat: null,
      // ForceAuthn and RequestedAuthnContext: the connection's, or a step-up's (authn-context.ts).
      ...authnRequestOptions(sp.ask ?? askFor(this.conn)),
      // HTTP-Redirect binding signature (SAML bindings 3.4.4.1) with `signatureAlgorithm` above.
      privateKey: sp.signWith?.privateKeyPem,
      decryptionPvk: sp.decryptWith?.privateKeyPem,
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
