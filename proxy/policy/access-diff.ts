import { decideRequest, type Explanation } from './decide-request.js';
import type { ProbeRequest } from './probes.js';
import type { RouteTable } from './route-table.js';
import type { Identity } from './types.js';

/** Someone to ask about; no identity means nobody signed in. */
export interface Asker {
  name: string;
  identity?: Identity;
}

/** `gain`: now allowed, was not; `loss`: was allowed, is not; `change`: any other difference. */
export type ChangeKind = 'gain' | 'loss' | 'change';

/** One side of a change: the decision, and the upstream an allowed request goes to. */
export interface Side extends Explanation {
  upstream?: string;
}

/** One (identity, request) decided differently by the two policy sets. */
export interface AccessChange {
  kind: ChangeKind;
  who: string;
  method: string;
  url: string;
  before: Side;
  after: Side;
}

const ORDER: Record<ChangeKind, number> = { gain: 0, loss: 1, change: 2 };

/**
 * Decides every (identity, request) under both route tables, as `serve` would, and returns
 * what differs: the decision (allow, deny, sign-in, no-route, ...), or the upstream an allowed
 * request now reaches. Which route or rule decided is not a change by itself. Sorted by kind
 * (gains, losses, other changes), then identity, URL and method.
 */
export function diffAccess(before: RouteTable, after: RouteTable, askers: readonly Asker[], probes: readonly ProbeRequest[]): AccessChange[] {
  const out: AccessChange[] = [];
  const upstreamsBefore = upstreams(before);
  const upstreamsAfter = upstreams(after);
  for (const a of askers) {
    for (const p of probes) {
      const request = { method: p.method, url: p.url, identity: a.identity };
      const was = side(upstreamsBefore, decideRequest(before, request));
      const now = side(upstreamsAfter, decideRequest(after, request));
      const kind = changeOf(was, now);
      if (kind) out.push({ kind, who: a.name, method: p.method, url: p.url, before: was, after: now });
    }
  }
  return out.sort((x, y) => ORDER[x.kind] - ORDER[y.kind] || cmp(x.who, y.who) || cmp(x.url, y.url) || cmp(x.method, y.method));
}

/** Route name -> upstream URL. */
function upstreams(table: RouteTable): Map<string, string> {
  return new Map(table.routes.map((r) => [r.name, r.upstream.href]));
}

function side(upstreamOf: Map<string, string>, e: Explanation): Side {
  const upstream = e.decision === 'allow' && e.route !== undefined ? upstreamOf.get(e.route) : undefined;
  return upstream === undefined ? e : { ...e, upstream };
}

function changeOf(was: Side, now: Side): ChangeKind | undefined {
  const allowedBefore = was.decision === 'allow';
  const allowedNow = now.decision === 'allow';
  if (allowedNow && !allowedBefore) return 'gain';
  if (allowedBefore && !allowedNow) return 'loss';
  if (was.decision !== now.decision || was.upstream !== now.upstream) return 'change';
  return undefined;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
