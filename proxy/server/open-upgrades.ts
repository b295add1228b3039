import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { SERVICE_CONNECTION } from '../config/service-account-rules.js';
import { F } from '../log.js';
import { evaluate } from '../policy/evaluate.js';
import { stepUpNeeded, type LoginFacts } from '../policy/step-up.js';
import type { Identity } from '../policy/types.js';
import type { Authorized } from './authorize.js';
import type { AppContext, RequestScope } from './context.js';

/** What an upgraded connection was admitted with: enough to decide it again. */
export interface UpgradeGrant {
  requestId: string;
  /** The route that admitted it, and where that route sent it. */
  route: string;
  upstream: string;
  /** The normalized host, path and method that were decided. */
  host: string;
  path: string;
  method: string;
  identity: Identity | undefined;
  /** How the session's login was made (class, instant), for a route's step-up requirement. */
  login?: LoginFacts;
  /** The client address as decided (peer, or through trusted proxies). */
  clientIp: string;
  /** The session that admitted it, and when that session ends at the latest. */
  sessionId?: string;
  sessionEndsAt?: number;
}

/** Logged once per connection a reload closes. */
export const UPGRADE_EVENTS = { revoked: 'upgrade-revoked' } as const;

/**
 * The open upgraded connections (websockets) and what admitted each. A handshake is decided
 * once, but a socket lives on: after a policy reload every open one is decided again under the
 * new context, and those it refuses (or whose route is gone) are closed, one log line each.
 */
export class OpenUpgrades {
  private readonly open = new Map<Duplex, UpgradeGrant>();

  constructor(private readonly state: () => AppContext) {}

  /** How many are open. */
  get size(): number {
    return this.open.size;
  }

  /**
   * Keeps `socket` until it closes. It was decided under `ctx`: when a reload has swapped the
   * context since (its pass over the open sockets missed this one), it is decided again now.
   */
  track(socket: Duplex, grant: UpgradeGrant, ctx: AppContext): void {
    if (socket.destroyed) return;
    this.open.set(socket, grant);
    // A socket outlives no session: it closes at the session's absolute end at the latest.
    const endsIn = grant.sessionEndsAt === undefined ? undefined : grant.sessionEndsAt - ctx.clock.now();
    const timer = endsIn === undefined ? undefined : setTimeout(() => this.close(socket, 'session-expired', this.state()), Math.max(0, Math.min(endsIn, 2 ** 31 - 1)));
    timer?.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      this.open.delete(socket);
    });
    const now = this.state();
    if (now.policy.generation !== ctx.policy.generation) this.decideAgain(socket, grant, now);
  }

  /** Decides every open connection again under `ctx`, closing the refused; returns how many. */
  recheck(ctx: AppContext): number {
    let closed = 0;
    for (const [socket, grant] of this.open) if (this.decideAgain(socket, grant, ctx)) closed++;
    return closed;
  }

  /**
   * Sessions ended (logout, revocation, SCIM), here or on another instance: their open sockets
   * close now, so a revoked user's notebook kernel connection does not outlive the session.
   */
  endSessions(ids: readonly string[] | 'all'): number {
    if (ids === 'all') return 0;
    const ended = new Set(ids);
    let closed = 0;
    for (const [socket, grant] of this.open) {
      if (grant.sessionId !== undefined && ended.has(grant.sessionId)) {
        this.close(socket, 'session-ended', this.state());
        closed++;
      }
    }
    return closed;
  }

  /** The sessions open connections belong to. */
  sessionIds(): string[] {
    return [...new Set([...this.open.values()].flatMap((g) => (g.sessionId ? [g.sessionId] : [])))];
  }

  /** Closes every open connection (shutdown: the server's own close does not reach them). */
  closeAll(): void {
    for (const socket of this.open.keys()) socket.destroy();
    this.open.clear();
  }

  private decideAgain(socket: Duplex, grant: UpgradeGrant, ctx: AppContext): boolean {
    const reason = refusal(grant, ctx);
    if (reason === undefined) return false;
    this.close(socket, reason, ctx);
    return true;
  }

  private close(socket: Duplex, reason: string, ctx: AppContext): void {
    const grant = this.open.get(socket);
    if (!grant) return;
    this.open.delete(socket);
    // No close frame: bytes of an upstream frame may be on their way; the TCP close ends both.
    socket.destroy();
    ctx.log.warn(
      { [F.event]: UPGRADE_EVENTS.revoked, [F.requestId]: grant.requestId, [F.route]: grant.route, [F.user]: grant.identity?.user, [F.reason]: reason, generation: ctx.policy.generation },
      reason.startsWith('session-') ? 'websocket closed: its session ended' : 'websocket closed: the reloaded policy refuses it',
    );
  }
}

/** The grant of a handshake `authorize` admitted (with the client address it decided on). */
export function grantOf(req: IncomingMessage, path: string, scope: RequestScope, ok: Authorized, sessionId: string | undefined): UpgradeGrant {
  return {
    ...(ok.session && sessionId ? { sessionId, sessionEndsAt: ok.session.expiresAt } : {}),
    requestId: scope.id,
    route: ok.route.name,
    upstream: ok.route.upstream.href,
    host: ok.host,
    path,
    method: req.method ?? 'GET',
    identity: ok.session?.identity,
    login: ok.session?.saml,
    clientIp: ok.clientIp,
  };
}

/**
 * Why `ctx` refuses this connection now (a reason as decisions give them), or undefined when it
 * still admits it through the same route to the same upstream.
 */
export function refusal(g: UpgradeGrant, ctx: AppContext): string | undefined {
  const hit = ctx.routes.match(g.host, g.path, g.method);
  if (!hit) return 'no-route';
  if (!('route' in hit)) return 'method-not-allowed';
  const { route } = hit;
  // Another route, or this one elsewhere, is not what admitted the open connection.
  if (route.name !== g.route) return 'route-changed';
  if (route.upstream.href !== g.upstream) return 'upstream-changed';
  if (!route.websockets) return 'websockets-disabled';
  // A service account is decided as the reloaded config has it (groups, or gone).
  const identity = g.identity?.connection === SERVICE_CONNECTION ? ctx.serviceAccounts.get(g.identity.user)?.identity : g.identity;
  if (g.identity && !identity) return 'service-account-removed';
  const d = evaluate(route, identity, { method: g.method, path: g.path, clientIp: g.clientIp });
  if (!d.allow) return d.reasons.join(',');
  // A reload that adds require_authn_context or max_authn_age applies to open sockets too (the
  // age is checked at reloads and handshakes only, not continuously).
  const need = route.stepUp && stepUpNeeded(route.stepUp, g.login ?? {}, ctx.clock.now());
  return need ? ['step-up-required', ...need.reasons].join(',') : undefined;
}
