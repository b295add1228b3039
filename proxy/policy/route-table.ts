import type { CompiledRoute } from './compile.js';
import { PathTrie, type TrieHit } from './path-trie.js';

/** What a lookup found: a route, or only routes whose path matched but not the method. */
export type RouteMatch = { route: CompiledRoute } | { methodNotAllowed: readonly string[] };

/**
 * Finds the route for a request. Most specific wins:
 * 1. host: the exact `host:port`, then the host name on any port, then `*.parent:port`, then
 *    `*.parent` (one label), then routes for any host; the first of these with a route for the
 *    path and method decides;
 * 2. path (see PathTrie): the longest literal leading path; at equal length exact, then glob
 *    (more literal characters, then fewer `**`, first), then prefix; routes naming methods
 *    before routes that do not; then file order.
 * Built once; a lookup costs one map read for the host and one per leading path of the request
 * (see PathTrie), whatever the number of routes (bench/routes.ts measures it).
 */
export class RouteTable {
  private readonly buckets = new Map<string, PathTrie>();
  private readonly anyHost = new PathTrie();
  /** Every exact host the routes name -> the tries to try, in order: built once, never evicted. */
  private readonly pinned = new Map<string, readonly PathTrie[]>();
  /** Other Host header values (wildcard-covered, unknown) -> their tries; bounded, cleared when full. */
  private readonly hostCache = new Map<string, readonly PathTrie[]>();
  /** Routes by name (names are unique across files), e.g. for the step-up login to read its requirement. */
  readonly byName: ReadonlyMap<string, CompiledRoute>;

  constructor(readonly routes: readonly CompiledRoute[]) {
    this.byName = new Map(routes.map((r) => [r.name, r]));
    for (const route of routes) {
      const trie = route.host ? this.bucket(route.host) : this.anyHost;
      trie.add(route);
    }
    for (const trie of [...this.buckets.values(), this.anyHost]) trie.seal();
    for (const host of this.buckets.keys()) if (!host.startsWith('*.')) this.pinned.set(host, this.resolve(host));
  }

  /** The route for `host` (lowercase, optional port), normalized `path` and `method`. */
  match(host: string, path: string, method: string): RouteMatch | undefined {
    let allowed: Set<string> | undefined;
    for (const trie of this.triesFor(host)) {
      const hit: TrieHit | undefined = trie.find(path, method);
      if (!hit) continue;
      if ('route' in hit) return hit;
      allowed ??= new Set();
      for (const m of hit.methodNotAllowed) allowed.add(m);
    }
    return allowed ? { methodNotAllowed: [...allowed].sort() } : undefined;
  }

  /**
   * The tries for a Host header value. Configured hosts never compete for the bounded cache, so
   * traffic to many wildcard-covered or unknown hosts cannot push them out.
   */
  private triesFor(host: string): readonly PathTrie[] {
    let tries = this.pinned.get(host) ?? this.hostCache.get(host);
    if (tries) return tries;
    tries = this.resolve(host);
    if (this.hostCache.size >= 1024) this.hostCache.clear();
    this.hostCache.set(host, tries);
    return tries;
  }

  /** The tries for `host`, most specific first (see the class comment). */
  private resolve(host: string): readonly PathTrie[] {
    const port = portOf(host);
    const hostname = port ? host.slice(0, -port.length) : host;
    const dot = hostname.indexOf('.');
    const parent = dot > 0 && !hostname.startsWith('[') ? hostname.slice(dot + 1) : undefined;
    const keys = [port ? host : undefined, hostname, parent && port ? `*.${parent}${port}` : undefined, parent ? `*.${parent}` : undefined];
    return [...keys.flatMap((k) => (k && this.buckets.has(k) ? [this.buckets.get(k)!] : [])), this.anyHost];
  }

  private bucket(host: string): PathTrie {
    let trie = this.buckets.get(host);
    if (!trie) this.buckets.set(host, (trie = new PathTrie()));
    return trie;
  }
}

/** `:8443` of `host:8443` or `[::1]:8443`; '' when there is no port. */
function portOf(host: string): string {
  const m = /:\d+$/.exec(host);
  if (!m) return '';
  // `[::1]` alone ends in `1]`, never in `:digits` after the bracket, so this is a real port.
  return host.startsWith('[') && !host.includes(']:') ? '' : m[0];
}
