import { keyPath } from './problems.js';
import { locate, type YamlSource } from './yaml-source.js';

/** One group name written in a policy file, located for a human. */
export interface NamedGroup {
  name: string;
  file: string;
  line: number;
  /** Key path of the list that holds it: `routes[0].allow[1].groups`, `routes[2].forward_groups`. */
  key: string;
}

/** Keys whose lists (at any depth below them: `groups: { any: [...] }`) hold group names. */
const GROUP_KEYS: ReadonlySet<string> = new Set(['groups', 'forward_groups']);

/**
 * Every group name a policy file writes, wherever its rules put it: `groups: [..]`,
 * `groups: { any | all: [..] }`, inside `and`/`or`/`not` at any depth, and `forward_groups: [..]`.
 * Walks the parsed YAML rather than the validated policy, so it follows the language as it grows.
 */
export function namedGroups(src: YamlSource): NamedGroup[] {
  const out: NamedGroup[] = [];
  const walk = (value: unknown, path: PropertyKey[], inGroups: boolean): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        if (inGroups && typeof item === 'string') out.push({ name: item, file: src.file, line: locate(src, [...path, i]), key: keyPath(path) });
        else walk(item, [...path, i], inGroups);
      });
    } else if (value && typeof value === 'object') {
      for (const [k, child] of Object.entries(value)) walk(child, [...path, k], inGroups || GROUP_KEYS.has(k));
    }
  };
  walk(src.doc.toJS({ maxAliasCount: 100 }), [], false);
  return out;
}
