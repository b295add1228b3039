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
  for (const group of route.allowGroups) {
    if (identity.groups.includes(group)) continue;
    if (evaluate(route, { ...identity, groups: [...identity.groups, group] }, req).allow) out.push(group);
  }
  return out;
}
