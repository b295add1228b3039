/**
 * Path patterns, the one syntax used by a route's `path` and a rule's `paths`:
 * - a prefix on whole segments: `/api` covers `/api` and `/api/x`, never `/apix`;
 * - a glob when it contains `*`: `*` is any run of characters except `/`, `**` any run including
 *   `/`; the glob must match the whole normalized path;
 * - an exact path (a route's `path_exact`).
 * Patterns are compared with the normalized request path, character for character (paths are
 * case-sensitive; percent-encoded reserved characters are upper-case hex after normalization).
 */
export type PathKind = 'exact' | 'glob' | 'prefix';

export interface PathPattern {
  kind: PathKind;
  /** The pattern as written (prefixes without their trailing slash). */
  text: string;
  /** Whole literal segments before the first wildcard (all segments for prefix and exact). */
  literalSegments: readonly string[];
  /** True when `path` is covered. */
  test(path: string): boolean;
}

/** Compiles a pattern; `exact` only for `path_exact`. Input is validated by the schema. */
export function compilePathPattern(raw: string, exact = false): PathPattern {
  if (exact) return { kind: 'exact', text: raw, literalSegments: segmentsOf(raw), test: (p) => p === raw };
  if (raw.includes('*')) {
    const star = raw.indexOf('*');
    const literal = raw.slice(0, raw.lastIndexOf('/', star));
    return { kind: 'glob', text: raw, literalSegments: segmentsOf(literal), test: globMatcher(raw) };
  }
  const prefix = raw === '/' ? '/' : raw.replace(/\/+$/, '');
  return { kind: 'prefix', text: prefix, literalSegments: segmentsOf(prefix), test: (p) => underPrefix(p, prefix) };
}

/** True when `path` is `prefix` or lies below it on a segment boundary. */
export function underPrefix(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47);
}

/** `/a/b/` -> ['a', 'b']; `/` -> []. */
export function segmentsOf(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

/**
 * A glob matcher that stays linear in the path length whatever the pattern: one wildcard runs as
 * a regular expression (linear with a single quantifier); several wildcards run as a small NFA
 * (a backtracking regex with two `.*` could take seconds on a long hostile path).
 */
function globMatcher(glob: string): (path: string) => boolean {
  const tokens = globTokens(glob);
  const wildcards = tokens.filter((t) => t === STAR || t === ANY).length;
  if (wildcards <= 1) {
    const re = new RegExp(`^${tokens.map((t) => (t === STAR ? '[^/]*' : t === ANY ? '.*' : t.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))).join('')}$`);
    return (p) => re.test(p);
  }
  return (p) => runNfa(tokens, p);
}

const STAR = Symbol('star');
const ANY = Symbol('any');
type Token = string | typeof STAR | typeof ANY;

function globTokens(glob: string): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < glob.length; i++) {
    if (glob[i] !== '*') out.push(glob[i]!);
    else if (glob[i + 1] === '*') {
      out.push(ANY);
      while (glob[i + 1] === '*') i++;
    } else out.push(STAR);
  }
  return out;
}

/** Thompson simulation: O(path length x pattern length), no backtracking. */
function runNfa(tokens: readonly Token[], path: string): boolean {
  const m = tokens.length;
  let cur = new Uint8Array(m + 1);
  let next = new Uint8Array(m + 1);
  cur[0] = 1;
  skipWildcards(tokens, cur);
  for (let k = 0; k < path.length; k++) {
    const ch = path[k]!;
    next.fill(0);
    let alive = false;
    for (let i = 0; i < m; i++) {
      if (!cur[i]) continue;
      const t = tokens[i]!;
      if (t === ANY || (t === STAR && ch !== '/')) {
        next[i] = 1;
        alive = true;
      } else if (t === ch) {
        next[i + 1] = 1;
        alive = true;
      }
    }
    if (!alive) return false;
    skipWildcards(tokens, next);
    [cur, next] = [next, cur];
  }
  return cur[m] === 1;
}

/** A wildcard may match nothing: a state before one also stands after it. */
function skipWildcards(tokens: readonly Token[], states: Uint8Array): void {
  for (let i = 0; i < tokens.length; i++) if (states[i] && typeof tokens[i] !== 'string') states[i + 1] = 1;
}
