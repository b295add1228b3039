import type { CompiledRoute } from './compile.js';
import { evaluate } from './evaluate.js';
import type { Identity, RequestFacts } from './types.js';

/**
 * The groups, each on its own, whose membership would turn this refusal into an allow: what a
 * refused user should ask for. Tried against the real rules (deny included), so a group that
 * a deny rule would still refuse is never suggested. Runs only on refusals.
 */
export function grantingGroups(route: CompiledRoute, identity: Identity, req: RequestFacts): string[] {
  const out: string[] = [];
  // Path patterns are tested once per request, not once per candidate group; and the number of
  // candidates is capped, so a refusal never costs more than a bounded number of set lookups.
  const memoized = { ...req, memo: new Map<object, boolean>() };
  for (const group of route.allowGroups.slice(0, MAX_CANDIDATES)) {
    if (identity.groups.includes(group)) continue;
    if (evaluate(route, { ...identity, groups: [...identity.groups, group] }, memoized).allow) out.push(group);
  }
  return out;
}

/** Groups tried per refusal; a route naming more lists only the first ones that grant access. */
const MAX_CANDIDATES = 32;
