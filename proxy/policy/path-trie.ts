import type { CompiledRoute } from './compile.js';

/** A route, or the methods of routes whose path matched but whose methods did not. */
export type TrieHit = { route: CompiledRoute } | { methodNotAllowed: readonly string[] };

/** A route and the path test it still needs (none for a prefix: its anchor is the test). */
interface Entry {
  route: CompiledRoute;
  test?: (path: string) => boolean;
}

const KIND_RANK = { exact: 0, glob: 1, prefix: 2 } as const;

/**
 * The routes of one host bucket, anchored at their literal leading path: a prefix's or exact
 * path's segments, a glob's segments before its first `*` (`/v1/models/*:predict` hangs at
 * `/v1/models`). A trie of segments, flattened into one map keyed by the anchor: a lookup reads
 * the map once per leading path of the request, deepest first, and tries the routes anchored
 * there. The cost grows with the path's depth, never with the number of routes; one flat map
 * instead of a map per segment touches less memory when there are many hosts and routes.
 */
export class PathTrie {
  /** Anchor (`''` for the root, `/v1/models`) -> routes, in the order they are tried. */
  private readonly anchors = new Map<string, Entry[]>();
  private maxDepth = 0;

  add(route: CompiledRoute): void {
    const p = route.path;
    const anchor = p.literalSegments.length ? `/${p.literalSegments.join('/')}` : '';
    let entries = this.anchors.get(anchor);
    if (!entries) this.anchors.set(anchor, (entries = []));
    // A prefix is its own anchor: a request reaching it has the prefix's leading segments, which
    // is what "a prefix on whole segments" means, so no test is left to run.
    const anchored = p.kind === 'prefix' && p.text === (anchor || '/');
    entries.push(anchored ? { route } : { route, test: p.test });
    this.maxDepth = Math.max(this.maxDepth, p.literalSegments.length);
  }

  /**
   * Orders each anchor's routes once: exact, glob, prefix; globs with more literal characters
   * first, then with fewer `**` (`/api/*` before `/api/**`); routes naming methods first; file order.
   */
  seal(): void {
    for (const entries of this.anchors.values()) {
      entries.sort(
        ({ route: a }, { route: b }) =>
          KIND_RANK[a.path.kind] - KIND_RANK[b.path.kind] ||
          globRank(a) - globRank(b) ||
          Number(b.methods !== undefined) - Number(a.methods !== undefined) ||
          a.order - b.order,
      );
    }
  }

  /** The route for a normalized path and a method, or the methods of the routes the path matched. */
  find(path: string, method: string): TrieHit | undefined {
    const ends: number[] = [];
    for (let start = 1; start < path.length && ends.length < this.maxDepth; ) {
      let end = path.indexOf('/', start);
      if (end === -1) end = path.length;
      ends.push(end);
      start = end + 1;
    }
    let mismatched: Set<string> | undefined;
    for (let depth = ends.length; depth >= 0; depth--) {
      const entries = this.anchors.get(depth === 0 ? '' : path.slice(0, ends[depth - 1]));
      if (!entries) continue;
      for (const { route, test } of entries) {
        if (test && !test(path)) continue;
        if (!route.methods || route.methods.has(method)) return { route };
        mismatched ??= new Set();
        for (const m of route.methods) mismatched.add(m);
      }
    }
    return mismatched ? { methodNotAllowed: [...mismatched] } : undefined;
  }
}

/** Lower sorts first: more literal characters, then fewer `**`. 0 for non-globs. */
function globRank(route: CompiledRoute): number {
  const t = route.path.text;
  if (route.path.kind !== 'glob') return 0;
  const literal = t.replace(/\*/g, '').length;
  const anyRuns = (t.match(/\*\*+/g) ?? []).length;
  return -literal * 1000 + anyRuns;
}
