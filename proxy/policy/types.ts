import type { SocketAddress } from 'node:net';

/** Who a request comes from, as established by a SAML login. Plain data; no HTTP. */
export interface Identity {
  /** Stable user name (the NameID unless a `user` attribute is mapped). */
  user: string;
  /** Email, lowercased; may be absent when the IdP sends none. */
  email?: string;
  /** Group names after the connection's group_map (case kept). */
  groups: readonly string[];
  /** Connection (IdP) that authenticated the user. */
  connection: string;
  /** Display name, for Gatehouse pages only. */
  name?: string;
  /** First (given) name, when the connection's attributes carry one. */
  firstName?: string;
  /** Last name (surname), when the connection's attributes carry one. */
  lastName?: string;
  /**
   * The connection's `claims:` (name -> values as sent, capped), only those the response
   * carried. Kept in the session and shown by /.gatehouse/userinfo; policies do not read them.
   */
  claims?: Readonly<Record<string, readonly string[]>>;
}

/** The request facts rules may look at, besides the identity. */
export interface RequestFacts {
  /** Upper-case method as received. */
  method: string;
  /** Normalized path (see path.ts): the path checked is the path forwarded. */
  path: string;
  /** Client address (the peer, or from X-Forwarded-For via trusted proxies only); '' if unknown. */
  clientIp: string;
  /** Pattern results already computed for this request (set by callers that evaluate repeatedly). */
  memo?: Map<object, boolean>;
  /** `clientIp` parsed once, by the first `source_ip` rule that needs it (null: not an address). */
  address?: SocketAddress | null;
}

/** The outcome of a policy evaluation; reasons are kebab-case, logged and asserted in tests. */
export interface Decision {
  allow: boolean;
  /** True when the request was refused only because nobody is signed in. */
  unauthenticated: boolean;
  reasons: string[];
  /** The rule that decided (`allow[1]`, `deny[0]`), if any. */
  rule?: string;
}
