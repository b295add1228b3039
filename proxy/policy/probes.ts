import type { CompiledRoute } from './compile.js';
import type { PathPattern } from './path-pattern.js';
import { childrenOf, type RuleNode } from './rules.js';

/** A request to decide under two policy sets. */
export interface ProbeRequest {
  method: string;
  /** Absolute URL. */
  url: string;
}

/** Methods probed on routes that serve every method. */
export const PROBE_METHODS: readonly string[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
/** Fills wildcards and sub-paths; a label no pattern names on purpose. */
const SAMPLE = 'sample';
/** Host for routes that serve any host (`.invalid` is reserved: RFC 2606). */
export const ANY_HOST = 'any-host.invalid';

/**
 * The requests each route's own patterns describe: its host (a wildcard gets a sample label,
 * any-host routes {@link ANY_HOST}), its path (a prefix as is and with a sub-path, a glob with its
 * wildcards filled in, an exact path as is) and every `paths` pattern of its rules at any depth,
 * each with the route's methods (or {@link PROBE_METHODS}) plus those its rules name. Sorted by
 * URL then method, without duplicates.
 */
export function probeRequests(routes: readonly CompiledRoute[], extra: readonly ProbeRequest[] = []): ProbeRequest[] {
  const seen = new Map<string, ProbeRequest>();
  const add = (p: ProbeRequest) => seen.set(`${p.url} ${p.method}`, p);
  for (const route of routes) {
    const host = probeHost(route.host);
    const rules = [...route.deny, ...route.allow].map((r) => r.node);
    const patterns = [route.path, ...rules.flatMap(pathsOf)];
    const methods = withoutImpliedHead(new Set([...(route.methods ?? PROBE_METHODS), ...rules.flatMap(methodsOf)]));
    for (const pattern of patterns) for (const path of samplePaths(pattern)) for (const method of methods) add({ method, url: `https://${host}${path}` });
  }
  for (const p of extra) add(p);
  return [...seen.values()].sort((a, b) => (a.url === b.url ? cmp(a.method, b.method) : cmp(a.url, b.url)));
}

/** `*.ml.example.com:8443` -> `sample.ml.example.com:8443`; no host -> {@link ANY_HOST}. */
export function probeHost(host: string | undefined): string {
  if (!host) return ANY_HOST;
  return host.startsWith('*.') ? `${SAMPLE}${host.slice(1)}` : host;
}

/** Concrete paths a pattern covers: `/api` -> `/api`, `/api/sample`; `/m/*:p` -> `/m/sample:p`. */
export function samplePaths(p: PathPattern): string[] {
  if (p.kind === 'exact') return [p.text];
  if (p.kind === 'prefix') return [p.text, p.text === '/' ? `/${SAMPLE}` : `${p.text}/${SAMPLE}`];
  const fill = (deep: string) => p.text.replace(/\*\*+/g, deep).replace(/\*/g, SAMPLE);
  return [...new Set([fill(SAMPLE), fill(`${SAMPLE}/${SAMPLE}`)])];
}

function pathsOf(n: RuleNode): PathPattern[] {
  return [...(n.paths ?? []), ...childrenOf(n).flatMap(pathsOf)];
}

function methodsOf(n: RuleNode): string[] {
  return [...(n.methods ?? []), ...childrenOf(n).flatMap(methodsOf)];
}

/** GET implies HEAD, so a HEAD probe beside a GET one tells nothing more. */
function withoutImpliedHead(methods: Set<string>): string[] {
  if (methods.has('GET')) methods.delete('HEAD');
  return [...methods];
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
