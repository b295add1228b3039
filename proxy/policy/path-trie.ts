import type { CompiledRoute } from './compile.js';

/** A route, or the methods of routes whose path matched but whose methods did not. */
export type TrieHit = { route: CompiledRoute } | { methodNotAllowed: readonly string[] };

interface Node {
  children: Map<string, Node>;
  /** Routes anchored at this node, in the order they are tried: exact, glob, prefix. */
  routes: CompiledRoute[];
}

const KIND_RANK = { exact: 0, glob: 1, prefix: 2 } as const;

/**
 * The routes of one host bucket, in a trie of literal path segments. A route hangs at the node
 * of its literal leading segments (a prefix's or exact path's segments; a glob's segments
 * before its first `*`). A lookup walks the request path down the trie, then tries the routes
 * of the deepest node first: the cost grows with the path's depth, not the number of routes.
 */
export class PathTrie {
  private readonly root: Node = { children: new Map(), routes: [] };
  private maxDepth = 0;

  add(route: CompiledRoute): void {
    let node = this.root;
    for (const seg of route.path.literalSegments) {
      let next = node.children.get(seg);
      if (!next) node.children.set(seg, (next = { children: new Map(), routes: [] }));
      node = next;
    }
    node.routes.push(route);
    this.maxDepth = Math.max(this.maxDepth, route.path.literalSegments.length);
  }

  /**
   * Orders each node's routes once: exact, glob, prefix; globs with more literal characters
   * first, then with fewer `**` (`/api/*` before `/api/**`); routes naming methods first; file order.
   */
  seal(): void {
    const visit = (node: Node) => {
      node.routes.sort(
        (a, b) =>
          KIND_RANK[a.path.kind] - KIND_RANK[b.path.kind] ||
          globRank(a) - globRank(b) ||
          Number(b.methods !== undefined) - Number(a.methods !== undefined) ||
          a.order - b.order,
      );
      for (const child of node.children.values()) visit(child);
    };
    visit(this.root);
  }

  find(path: string, method: string): TrieHit | undefined {
    const trail: Node[] = [this.root];
    let node = this.root;
    let start = 1;
    while (start < path.length && trail.length <= this.maxDepth) {
      let end = path.indexOf('/', start);
      if (end === -1) end = path.length;
      const next = node.children.get(path.slice(start, end));
      if (!next) break;
      trail.push((node = next));
      start = end + 1;
    }
    let mismatched: Set<string> | undefined;
    for (let i = trail.length - 1; i >= 0; i--) {
      for (const route of trail[i]!.routes) {
        if (!route.path.test(path)) continue;
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
