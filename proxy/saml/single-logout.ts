import type { Clock } from '../clock.js';
import type { ConnectionConfig } from '../config/schema.js';
import { fail } from '../errors.js';
import type { Session } from '../session/types.js';
import type { IdpSource } from './idp-source.js';
import { buildLogoutRequest, buildLogoutResponse, newMessageId, parseLogoutMessage, STATUS, type LogoutMessage, type LogoutSubject } from './logout-messages.js';
import type { LogoutTracker } from './logout-tracker.js';
import { signForPost, verifyPosted } from './post-binding.js';
import { signedRedirectUrl, verifyRedirect } from './redirect-binding.js';
import type { ReplayCache } from './replay-cache.js';
import type { SpKey } from '../config/sp-keys.js';

/** A logout message as it arrived at `/.gatehouse/saml/<id>/slo`. */
export type SloInput = { binding: 'redirect'; rawQuery: string } | { binding: 'post'; form: URLSearchParams };

/** A received logout message whose signature, Issuer and Destination have been verified. */
export interface VerifiedLogout {
  binding: 'redirect' | 'post';
  message: LogoutMessage;
  relayState?: string;
}

/** How to send our answer: a redirect URL, or a form to auto-submit. */
export type Outgoing = { binding: 'redirect'; url: string } | { binding: 'post'; url: string; fields: Record<string, string> };

/** Shared collaborators of every connection's Single Logout. */
export interface SloDeps {
  tracker: LogoutTracker;
  replay: ReplayCache;
  clock: Clock;
  skewMs: number;
  /** The SP signing key (`saml.sp_keys[0]`); without it there is no Single Logout. */
  spKey?: SpKey;
}

/**
 * How long a logout message is usable after its IssueInstant when it carries no NotOnOrAfter
 * (and the window its ID is remembered for replay). SAML leaves this to deployments.
 */
export const LOGOUT_MESSAGE_MAX_AGE_MS = 10 * 60_000;
/** Lifetime we give our own LogoutRequests (NotOnOrAfter). */
const OUR_REQUEST_LIFETIME_MS = 5 * 60_000;
/** SAML bindings 3.4.3 / 3.5.3: RelayState MUST NOT exceed 80 bytes. We echo at most that. */
const MAX_RELAY_STATE = 80;

/**
 * Single Logout (SAML profiles 2.0, section 4.4) for one connection: SP-initiated over
 * HTTP-Redirect, IdP-initiated over HTTP-Redirect and HTTP-POST. Every received message must be
 * signed by the IdP (unsigned is refused: a forged LogoutRequest would sign someone else out),
 * name the IdP as Issuer and our SLO URL as Destination. Ending sessions is the caller's part
 * (only the server layer knows the session store's admin); this class says whose.
 */
export class SingleLogout {
  constructor(
    readonly conn: ConnectionConfig,
    readonly urls: { entityId: string; sloUrl: string },
    private readonly idp: IdpSource,
    private readonly deps: SloDeps,
  ) {}

  /** On unless `single_logout: false`, and only with an SP signing key (our messages are signed). */
  get enabled(): boolean {
    return this.conn.single_logout !== false && this.deps.spKey !== undefined;
  }

  /** True when a sign-out of this session should continue at the IdP (it publishes a Redirect SLO endpoint). */
  canStart(saml: Session['saml']): boolean {
    return this.enabled && !!saml.nameId && saml.issuer === this.idp.current.entityId && !!this.idp.current.slo.redirect;
  }

  /** The origin of the IdP's SLO endpoint when a sign-out of this session will go there. */
  idpLogoutOrigin(saml: Session['saml']): string | undefined {
    return this.canStart(saml) ? new URL(this.idp.current.slo.redirect!).origin : undefined;
  }

  /**
   * SP-initiated logout: a signed LogoutRequest for this session's NameID and SessionIndex, its
   * ID recorded and bound to this browser's nonce.
   * @returns the IdP URL to redirect the browser to
   */
  async startLogout(saml: Session['saml'], nonce: string): Promise<string> {
    const key = this.signingKey();
    const destination = this.idp.current.slo.redirect!;
    const id = newMessageId();
    const subject: LogoutSubject = {
      nameId: saml.nameId,
      ...(saml.nameIdFormat ? { nameIdFormat: saml.nameIdFormat } : {}),
      ...(saml.nameQualifier ? { nameQualifier: saml.nameQualifier } : {}),
      ...(saml.spNameQualifier ? { spNameQualifier: saml.spNameQualifier } : {}),
      sessionIndexes: saml.sessionIndex ? [saml.sessionIndex] : [],
    };
    const xml = buildLogoutRequest({ id, issuer: this.urls.entityId, destination, nowMs: this.deps.clock.now(), lifetimeMs: OUR_REQUEST_LIFETIME_MS, subject });
    const relayState = await this.deps.tracker.start({ requestId: id, connection: this.conn.id }, nonce);
    return signedRedirectUrl(destination, 'SAMLRequest', xml, relayState, key.privateKey);
  }

  /**
   * Verifies a received message: signature by one of the IdP's current signing certificates
   * (query signature or XML signature), the kind its parameter says, Issuer = the IdP,
   * Destination = this connection's SLO URL (SAML bindings 3.4.5.2 / 3.5.5.2).
   * @throws GatehouseError SAML_LOGOUT_FAILED
   */
  verify(input: SloInput): VerifiedLogout {
    if (!this.enabled) throw fail('SAML_LOGOUT_FAILED', 'single-logout-off');
    const certs = this.idp.current.signingCerts;
    let xml: string;
    let param: 'SAMLRequest' | 'SAMLResponse';
    let relayState: string | undefined;
    if (input.binding === 'redirect') {
      const m = verifyRedirect(input.rawQuery, this.idp.current.signingKeys);
      ({ xml, kind: param } = m);
      relayState = m.relayState;
    } else {
      const request = input.form.getAll('SAMLRequest');
      const response = input.form.getAll('SAMLResponse');
      if (request.length + response.length !== 1 || input.form.getAll('RelayState').length > 1) throw fail('SAML_LOGOUT_FAILED', 'post-not-one-message');
      param = request.length ? 'SAMLRequest' : 'SAMLResponse';
      xml = verifyPosted((request[0] ?? response[0])!, certs);
      relayState = input.form.get('RelayState') ?? undefined;
    }
    const message = parseLogoutMessage(xml);
    if ((param === 'SAMLRequest') !== (message.kind === 'LogoutRequest')) throw fail('SAML_LOGOUT_FAILED', 'message-kind-mismatch');
    if (message.issuer !== this.idp.current.entityId) throw fail('SAML_LOGOUT_FAILED', message.issuer ? 'issuer-mismatch' : 'issuer-missing');
    if (message.destination !== this.urls.sloUrl) throw fail('SAML_LOGOUT_FAILED', message.destination ? 'destination-mismatch' : 'destination-missing');
    return { binding: input.binding, message, ...(relayState !== undefined ? { relayState } : {}) };
  }

  /**
   * The checks of an IdP's LogoutRequest after `verify`: within its validity (NotOnOrAfter,
   * with clock skew; IssueInstant neither in the future nor older than the maximum age), its ID
   * used once (replay cache), and it names a NameID issued to us (SPNameQualifier, when present).
   * @returns whose sessions to end
   * @throws GatehouseError SAML_LOGOUT_FAILED
   */
  async acceptRequest(m: LogoutMessage): Promise<LogoutSubject> {
    const now = this.deps.clock.now();
    const skew = this.deps.skewMs;
    if (m.notOnOrAfter !== undefined && now >= m.notOnOrAfter + skew) throw fail('SAML_LOGOUT_FAILED', 'logout-request-expired');
    if (m.issueInstant > now + skew) throw fail('SAML_LOGOUT_FAILED', 'logout-request-from-the-future');
    if (now >= m.issueInstant + LOGOUT_MESSAGE_MAX_AGE_MS + skew) throw fail('SAML_LOGOUT_FAILED', 'logout-request-too-old');
    if (!m.subject) throw fail('SAML_LOGOUT_FAILED', 'logout-request-without-name-id');
    // SAML core 2.2.2: SPNameQualifier names the SP the NameID was issued to; it must be us.
    if (m.subject.spNameQualifier !== undefined && m.subject.spNameQualifier !== this.urls.entityId) throw fail('SAML_LOGOUT_FAILED', 'name-id-for-another-sp');
    const until = Math.max(m.notOnOrAfter ?? 0, m.issueInstant + LOGOUT_MESSAGE_MAX_AGE_MS) + skew;
    const claim = await this.deps.replay.claim(this.idp.current.entityId, `logout-request:${m.id}`, until);
    if (claim !== 'claimed') throw fail('SAML_LOGOUT_FAILED', claim === 'full' ? 'replay-cache-full' : 'logout-request-replayed');
    return m.subject;
  }

  /**
   * The checks of the IdP's LogoutResponse to our request: it answers a logout this browser
   * started through this connection, once (InResponseTo = our request's ID).
   * @returns true when the IdP reports success
   * @throws GatehouseError SAML_LOGOUT_FAILED
   */
  async acceptResponse(v: VerifiedLogout, nonce: string | undefined): Promise<'ok' | 'partial-logout' | 'idp-reported-failure'> {
    await this.deps.tracker.finish(v.relayState, nonce, this.conn.id, v.message.inResponseTo);
    if (v.message.status !== STATUS.success) return 'idp-reported-failure';
    // SAML core 3.7.3.2: Success with PartialLogout: the IdP session ended, but not every other
    // application it had signed the user in to could be told.
    return v.message.subStatus === STATUS.partialLogout ? 'partial-logout' : 'ok';
  }

  /**
   * Our signed LogoutResponse to a verified LogoutRequest, sent back by the binding it came with
   * when the IdP publishes one (else the other), to ResponseLocation when given. Undefined when
   * the IdP publishes no SLO endpoint: there is nowhere to answer.
   */
  answer(request: VerifiedLogout, status: string, subStatus?: string): Outgoing | undefined {
    const key = this.signingKey();
    const md = this.idp.current;
    const where = { redirect: md.sloResponse?.redirect ?? md.slo.redirect, post: md.sloResponse?.post ?? md.slo.post };
    const binding = request.binding === 'redirect' ? (where.redirect ? 'redirect' : 'post') : where.post ? 'post' : 'redirect';
    const destination = where[binding];
    if (!destination) return undefined;
    const xml = buildLogoutResponse({
      id: newMessageId(),
      issuer: this.urls.entityId,
      destination,
      nowMs: this.deps.clock.now(),
      inResponseTo: request.message.id,
      status,
      ...(subStatus ? { subStatus } : {}),
    });
    const relay = request.relayState !== undefined && Buffer.byteLength(request.relayState) <= MAX_RELAY_STATE ? request.relayState : undefined;
    if (binding === 'redirect') return { binding, url: signedRedirectUrl(destination, 'SAMLResponse', xml, relay, key.privateKey) };
    return { binding, url: destination, fields: { SAMLResponse: signForPost(xml, key), ...(relay !== undefined ? { RelayState: relay } : {}) } };
  }

  private signingKey(): SpKey {
    if (!this.deps.spKey) throw fail('INTERNAL', 'single-logout-without-sp-key');
    return this.deps.spKey;
  }
}
