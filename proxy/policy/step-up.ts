import type { RouteConfig } from '../config/policy-schema.js';

/** A route's demands on how (and how recently) its users authenticated. Compiled once. */
export interface StepUpRequirement {
  /** Accepted AuthnContextClassRefs (any of, exact); undefined: any class. */
  classes?: readonly string[];
  classSet?: ReadonlySet<string>;
  /** Longest time since the IdP's AuthnInstant (ms); undefined: any age. */
  maxAgeMs?: number;
}

/** How the session's login was made, as kept in Session.saml. */
export interface LoginFacts {
  authnContextClassRef?: string;
  /** Epoch ms. */
  authnInstant?: number;
}

/** Why a signed-in user must authenticate again, and what to ask the IdP for. */
export interface StepUpNeed {
  /** `authn-context-insufficient` and/or `authn-too-old`. */
  reasons: string[];
  /** Classes to request (the route's), when the class is the problem or the route names them. */
  classes?: readonly string[];
  /** ForceAuthn: the age is the problem. */
  fresh: boolean;
  /** What the session has and what the route wants, for the decision record. */
  detail: { have_class?: string; want_class?: readonly string[]; age_s?: number; max_age_s?: number };
}

/** Compiles a route's `require_authn_context` and `max_authn_age`; undefined when it sets neither. */
export function compileStepUp(r: Pick<RouteConfig, 'require_authn_context' | 'max_authn_age'>): StepUpRequirement | undefined {
  if (r.require_authn_context === undefined && r.max_authn_age === undefined) return undefined;
  const classes = r.require_authn_context ? Object.freeze([...new Set(r.require_authn_context)]) : undefined;
  return Object.freeze({ classes, classSet: classes ? new Set(classes) : undefined, maxAgeMs: r.max_authn_age });
}

/**
 * Whether a session's login meets the route's requirement. A login that does not say (no class,
 * no AuthnInstant: IdPs may omit them, sessions from before this feature lack them) does not
 * meet a requirement that asks about it: fail closed.
 */
export function stepUpNeeded(req: StepUpRequirement, login: LoginFacts, nowMs: number): StepUpNeed | undefined {
  const reasons: string[] = [];
  const detail: StepUpNeed['detail'] = {};
  if (req.classSet && !(login.authnContextClassRef !== undefined && req.classSet.has(login.authnContextClassRef))) {
    reasons.push('authn-context-insufficient');
    detail.have_class = login.authnContextClassRef;
    detail.want_class = req.classes;
  }
  let fresh = false;
  if (req.maxAgeMs !== undefined) {
    const age = login.authnInstant === undefined ? undefined : nowMs - login.authnInstant;
    if (age === undefined || age > req.maxAgeMs) {
      reasons.push('authn-too-old');
      fresh = true;
      if (age !== undefined) detail.age_s = Math.floor(age / 1000);
      detail.max_age_s = Math.floor(req.maxAgeMs / 1000);
    }
  }
  if (reasons.length === 0) return undefined;
  return { reasons, classes: req.classes, fresh, detail };
}
