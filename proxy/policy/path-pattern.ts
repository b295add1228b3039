/**
 * Path patterns, the one syntax used by a route's `path` and a rule's `paths`:
 * - a prefix on whole segments: `/api` covers `/api` and `/api/x`, never `/apix`;
 * - a glob when it contains `*`: `*` is any run of characters except `/`, `**` any run including
 *   `/`; the glob must match the whole normalized path;
 * - an exact path (a route's `path_exact`).
 * Globs and exact paths also cover their path with one trailing `/` (see orWithoutSlash).
 * Patterns are compared with the normalized request path, character for character (paths are
 * case-sensitive; the escapes that remain after normalization are upper-case hex).
 */
import { canonicalPattern } from '../path.js';

export type PathKind = 'exact' | 'glob' | 'prefix';

export interface PathPattern {
  kind: PathKind;
  /** The pattern as compared: as written, escapes canonical (see compilePathPattern), prefixes without their trailing slash. */
  text: string;
  /** Whole literal segments before the first wildcard (all segments for prefix and exact). */
  literalSegments: readonly string[];
  /** True when `path` is covered. */
  test(path: string): boolean;
}

/**
 * Compiles a pattern; `exact` only for `path_exact`. Input is validated by the schema. Escapes
 * that normalization decodes are decoded here too (`*%3Apredict` is `*:predict`), or the pattern
 * could never match the request it names.
 */
export function compilePathPattern(written: string, exact = false): PathPattern {
  const raw = canonicalPattern(written);
  if (exact) return { kind: 'exact', text: raw, literalSegments: segmentsOf(raw), test: orWithoutSlash((p) => p === raw) };
  if (raw.includes('*')) {
    const star = raw.indexOf('*');
    const literal = raw.slice(0, raw.lastIndexOf('/', star));
    return { kind: 'glob', text: raw, literalSegments: segmentsOf(literal), test: orWithoutSlash(globMatcher(raw)) };
  }
  const prefix = raw === '/' ? '/' : raw.replace(/\/+$/, '');
  return { kind: 'prefix', text: prefix, literalSegments: segmentsOf(prefix), test: (p) => underPrefix(p, prefix) };
}

/**
 * Exact paths and globs also cover the path with one trailing `/`: most upstream routers serve
 * `/x/` as `/x`, so a deny on `/x` must refuse `/x/` too (and an allow on it may admit it).
 */
function orWithoutSlash(test: (path: string) => boolean): (path: string) => boolean {
  return (p) => test(p) || (p.length > 1 && p.charCodeAt(p.length - 1) === 47 && test(p.slice(0, -1)));
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
  return nfaMatcher(tokens);
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

/**
 * Thompson simulation over the active states only: O(path length x active states), no
 * backtracking. Tokens are pre-coded as numbers and state lists are typed arrays (no allocation
 * per character). Literal head and tail are checked first, which rejects most paths at once.
 */
function nfaMatcher(tokens: readonly Token[]): (path: string) => boolean {
  const m = tokens.length;
  const code = Int32Array.from(tokens, (t) => (t === STAR ? -1 : t === ANY ? -2 : t.charCodeAt(0)));
  let head = '';
  for (const t of tokens) {
    if (typeof t !== 'string') break;
    head += t;
  }
  let tail = '';
  for (let i = m - 1; i >= 0 && typeof tokens[i] === 'string'; i--) tail = (tokens[i] as string) + tail;
  const stamp = new Int32Array(m + 1);
  let cur = new Int32Array(m + 1);
  let next = new Int32Array(m + 1);
  return (path) => {
    if (!path.startsWith(head) || !path.endsWith(tail)) return false;
    stamp.fill(-1);
    let nCur = add(code, m, stamp, cur, 0, 0, 0);
    for (let k = 0; k < path.length; k++) {
      const ch = path.charCodeAt(k);
      let nNext = 0;
      for (let j = 0; j < nCur; j++) {
        const i = cur[j]!;
        if (i === m) continue;
        const t = code[i]!;
        if (t === -2 || (t === -1 && ch !== 47)) nNext = add(code, m, stamp, next, nNext, i, k + 1);
        else if (t === ch) nNext = add(code, m, stamp, next, nNext, i + 1, k + 1);
      }
      if (nNext === 0) return false;
      const swap = cur;
      cur = next;
      next = swap;
      nCur = nNext;
    }
    for (let j = 0; j < nCur; j++) if (cur[j] === m) return true;
    return false;
  };
}

/** Adds `state` (and, since a wildcard may match nothing, the states after wildcards) once per step. */
function add(code: Int32Array, m: number, stamp: Int32Array, list: Int32Array, n: number, state: number, step: number): number {
  for (let s = state; s <= m && stamp[s] !== step; s++) {
    stamp[s] = step;
    list[n++] = s;
    if (s === m || code[s]! >= 0) break;
  }
  return n;
}

