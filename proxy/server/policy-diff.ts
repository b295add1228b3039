import type { LoadedConfig } from '../config/load.js';
import type { GatehouseConfig } from '../config/schema.js';

/** Route names a reload added, removed or changed (any key of the route, or its file). */
export interface RouteChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

/** Config keys a reload applies (`identity_jwt`: key rotation; `service_accounts`); every other top-level key needs a restart. */
const RELOADED_KEYS: ReadonlySet<string> = new Set(['policies', 'identity_jwt', 'service_accounts']);

/** Compares the routes of two loads by name (names are unique across files). */
export function routeChanges(before: LoadedConfig, after: LoadedConfig): RouteChanges {
  const a = routeTexts(before);
  const b = routeTexts(after);
  return {
    added: [...b.keys()].filter((n) => !a.has(n)),
    removed: [...a.keys()].filter((n) => !b.has(n)),
    changed: [...b.keys()].filter((n) => a.has(n) && a.get(n) !== b.get(n)),
  };
}

/** Top-level config keys whose value differs from the running config, other than those a reload applies. */
export function restartKeys(running: GatehouseConfig, next: GatehouseConfig): string[] {
  const keys = new Set([...Object.keys(running), ...Object.keys(next)]);
  const differs = (k: string) => JSON.stringify(running[k as keyof GatehouseConfig]) !== JSON.stringify(next[k as keyof GatehouseConfig]);
  return [...keys].filter((k) => !RELOADED_KEYS.has(k) && differs(k)).sort();
}

/** One comparable text per route: its validated config (defaults applied) and its file. */
function routeTexts(loaded: LoadedConfig): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of loaded.policies) {
    for (const r of f.policy.routes) out.set(r.name, JSON.stringify([f.file, r]));
  }
  return out;
}
