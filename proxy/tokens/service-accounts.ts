import { SERVICE_CONNECTION } from '../config/service-account-rules.js';
import type { GatehouseConfig } from '../config/schema.js';
import type { Identity } from '../policy/types.js';

/** One configured service account, as requests see it. */
export interface ServiceAccount {
  name: string;
  /** Longest lifetime of a token minted for it. */
  maxTtlMs: number;
  description?: string;
  /**
   * The identity its tokens carry: built once per config, so every request of every token of the
   * account shares one object (identity headers are cached per identity object).
   */
  identity: Identity;
}

/** The configured service accounts by name; rebuilt whole on every reload. */
export type ServiceAccounts = ReadonlyMap<string, ServiceAccount>;

/** The `service_accounts:` of a validated config as a lookup table of frozen entries. */
export function buildServiceAccounts(config: Pick<GatehouseConfig, 'service_accounts'>): ServiceAccounts {
  const table = new Map<string, ServiceAccount>();
  for (const [name, a] of Object.entries(config.service_accounts)) {
    const identity: Identity = Object.freeze({ user: name, connection: SERVICE_CONNECTION, groups: Object.freeze([...a.groups]) });
    table.set(name, Object.freeze({ name, maxTtlMs: a.max_ttl, ...(a.description !== undefined ? { description: a.description } : {}), identity }));
  }
  return table;
}
