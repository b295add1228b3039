import type { SamlConfig } from '@node-saml/node-saml';
import type { ConnectionConfig } from '../config/schema.js';
import { fail } from '../errors.js';
import { classSatisfies, type Comparison } from '../config/authn-classes.js';
import { NS, onlyChild, textOf } from './xml.js';

/**
 * What one AuthnRequest asks of the IdP about authentication (SAML core 3.4.1): the
 * RequestedAuthnContext (absent: none requested) and ForceAuthn. Recorded with the login, so the
 * ACS checks the answer against what this very login asked for.
 */
export interface AuthnAsk {
  classes?: readonly string[];
  comparison: Comparison;
  forceAuthn: boolean;
}

/** A step-up: the route's classes (compared exactly) and whether a fresh authentication is due. */
export interface StepUpAsk {
  classes?: readonly string[];
  fresh: boolean;
}

/**
 * The ask of a login through `conn`: its own `authn_context` and `force_authn`, unless a step-up
 * replaces the classes (comparison `exact`: the route lists what it accepts) or demands ForceAuthn.
 */
export function askFor(conn: ConnectionConfig, stepUp?: StepUpAsk): AuthnAsk {
  const forceAuthn = conn.force_authn || (stepUp?.fresh ?? false);
  if (stepUp?.classes) return { classes: [...stepUp.classes], comparison: 'exact', forceAuthn };
  const own = conn.authn_context;
  return own ? { classes: [...own.classes], comparison: own.comparison, forceAuthn } : { comparison: 'exact', forceAuthn };
}

/** One key per distinct ask, for the AuthnRequest builders kept per connection. */
export function askKey(ask: AuthnAsk): string {
  return `${ask.forceAuthn ? 'force' : 'sso'}|${ask.comparison}|${(ask.classes ?? []).join(' ')}`;
}

/** The node-saml options that put `ask` into the AuthnRequest. */
export function authnRequestOptions(ask: AuthnAsk): Partial<SamlConfig> {
  // Without classes no RequestedAuthnContext is sent at all: the IdP chooses the method (an MFA
  // login must not be refused because we asked for "PasswordProtectedTransport" exactly).
  if (!ask.classes) return { forceAuthn: ask.forceAuthn, disableRequestedAuthnContext: true };
  return { forceAuthn: ask.forceAuthn, disableRequestedAuthnContext: false, authnContext: [...ask.classes], racComparison: ask.comparison };
}

/**
 * The AuthnContextClassRef of a signed assertion's AuthnStatement (SAML core 2.7.2.2); undefined
 * when the IdP names only a declaration. Repeated elements are refused, not chosen between.
 */
export function classRefOf(authnStatement: Element): string | undefined {
  const context = onlyChild(authnStatement, NS.assertion, 'AuthnContext', 'duplicate-authn-context');
  if (!context) return undefined;
  return textOf(onlyChild(context, NS.assertion, 'AuthnContextClassRef', 'duplicate-authn-context-class-ref'));
}

/** What the IdP said about how the user authenticated, from the signed assertion. */
export interface AuthnFacts {
  classRef?: string;
  /** Epoch ms. */
  instant?: number;
}

/**
 * Checks the answer against the ask of its login and the connection's own `authn_context`:
 * - requested classes: the returned class must satisfy them (`authn-context-not-satisfied`);
 * - the connection's classes too, always: a step-up login asks for a route's classes instead, and
 *   must not become a way around the connection's floor (same reason);
 * - ForceAuthn: the IdP must have authenticated the user after the login started, within the
 *   clock skew (`authn-not-fresh`): an IdP that answers from an older SSO session did not do
 *   what was asked, and the route that demanded a recent authentication would be fooled;
 * - an AuthnInstant later than now (plus the skew) is refused (`authn-instant-in-future`): it
 *   would keep a session "recent" for max_authn_age long after the real authentication.
 * @throws GatehouseError SAML_LOGIN_FAILED
 */
export function checkAuthn(facts: AuthnFacts, ask: AuthnAsk, conn: ConnectionConfig, when: { loginStartedAt: number | undefined; nowMs: number; skewMs: number }): void {
  const { loginStartedAt, nowMs, skewMs } = when;
  if (ask.classes && !classSatisfies(facts.classRef, ask.classes, ask.comparison)) throw fail('SAML_LOGIN_FAILED', 'authn-context-not-satisfied');
  const own = conn.authn_context;
  if (own && !classSatisfies(facts.classRef, own.classes, own.comparison)) throw fail('SAML_LOGIN_FAILED', 'authn-context-not-satisfied');
  if (facts.instant !== undefined && facts.instant > nowMs + skewMs) throw fail('SAML_LOGIN_FAILED', 'authn-instant-in-future');
  if (ask.forceAuthn && loginStartedAt !== undefined) {
    if (facts.instant === undefined || facts.instant + skewMs < loginStartedAt) throw fail('SAML_LOGIN_FAILED', 'authn-not-fresh');
  }
}
