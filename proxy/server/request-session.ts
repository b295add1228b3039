import type { IncomingMessage } from 'node:http';
import { parseToken } from '../session/session-keys.js';
import type { Session } from '../session/types.js';
import { openBearer, presentedToken } from '../tokens/bearer.js';
import type { AppContext } from './context.js';
import { readCookie } from './cookies.js';

/** Whose request it is (nobody: neither field), or why the token it presented opened nothing. */
export type RequestSession = { session?: Session; sessionId?: string } | { refused: string };

/**
 * The session of a request, for routes and userinfo alike: a presented Gatehouse bearer token
 * takes the place of the cookie (tokens/bearer.ts). A token that opens nothing is refused, never
 * answered from the cookie: a stale token must not act as whoever's cookie travels with it. The
 * caller turns `refused` into its TOKEN_INVALID answer.
 */
export async function requestSession(req: IncomingMessage, ctx: AppContext): Promise<RequestSession> {
  const bearer = presentedToken(req.rawHeaders);
  if (bearer !== undefined) {
    const opened = typeof bearer === 'string' ? await openBearer(ctx, bearer) : bearer;
    return 'reason' in opened ? { refused: opened.reason } : opened;
  }
  const token = readCookie(req.headers.cookie, ctx.cookies.session);
  const session = await ctx.sessions.openBrowser(token);
  return session ? { session, sessionId: parseToken(token!)?.id } : {};
}
