import type { AppContext } from '../server/context.js';
import type { Session } from '../session/types.js';

/**
 * The live service-account session behind a `ghs_` token, or undefined when it is not one
 * (malformed, unknown, revoked, expired, account removed from the config).
 * Stub: wired by the service-accounts change (docs/cli-tokens.md); until then every `ghs_`
 * token is refused with TOKEN_INVALID.
 */
export async function openServiceToken(_ctx: AppContext, _token: string): Promise<Session | undefined> {
  return undefined;
}
