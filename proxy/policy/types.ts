/** Who a request comes from, as established by a SAML login. Plain data; no HTTP. */
export interface Identity {
  /** Stable user name (the NameID unless a `user` attribute is mapped). */
  user: string;
  /** Email, lowercased; may be absent when the IdP sends none. */
  email?: string;
  /** Group names as the IdP sent them (case kept). */
  groups: readonly string[];
  /** Connection (IdP) that authenticated the user. */
  connection: string;
  /** Display name, for Gatehouse pages only. */
  name?: string;
}

/** A rule compiled for lookups: sets built once at startup. */
export interface CompiledRule {
  /** `allow[0]` or `deny[2]`: where the rule stands in its route. */
  label: string;
  public: boolean;
  authenticated: boolean;
  groups?: ReadonlySet<string>;
  emails?: ReadonlySet<string>;
  domains?: ReadonlySet<string>;
  connections?: ReadonlySet<string>;
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
