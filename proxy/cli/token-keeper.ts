import { statSync } from 'node:fs';
import { mayReceiveToken, readCredentials, type CredentialEntry } from './credentials-file.js';
import { freshAccessToken, REFRESH_MARGIN_MS, SessionEnded, storedToken, type SignedIn } from './fresh-token.js';

/** What a TokenKeeper needs besides the sign-in it starts with. */
export interface KeeperOptions {
  /** Where the tokens go: a newer login is used only if its token may be sent there. */
  origin: string;
  /** A newer login from the credentials file replaced the one in use (never given a token). */
  onSwitch?: (issuer: string, user: string, previousUser: string) => void;
  /** A newer login is in the file but does not name `origin`, so it is not used. */
  onIgnored?: (issuer: string, origin: string) => void;
  now?: () => number;
}

/** The entry without its access token: the next `get` refreshes. */
function withoutAccessToken(entry: CredentialEntry): CredentialEntry {
  const { access_token: _token, access_expires_at: _at, ...rest } = entry;
  return rest;
}

/** Which version of the credentials file was read: every write renames a new file over it. */
function stampOf(path: string): string {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    return st ? `${st.ino}:${st.mtimeMs}` : 'absent';
  } catch {
    return 'unreadable';
  }
}

/**
 * Keeps one access token fresh for a long-running command (the tunnel): refreshes before the
 * margin, one refresh at a time however many requests ask. Once it has seen a token's lifetime,
 * the margin is at most a quarter of it, so short tokens (`tokens.access_ttl: 1m`) are used
 * for most of their life instead of being refreshed for every request.
 *
 * A new `gatehouse login` (which revokes the session it replaces) is picked up without a
 * restart: the file is read again before a refresh when it changed since it was last read, and
 * whenever Gatehouse refused our refresh token or access token.
 */
export class TokenKeeper {
  private pending: Promise<string> | undefined;
  private marginMs = REFRESH_MARGIN_MS;
  private stamp: string;
  private ignored: string | undefined;
  /** The last token a renewal handed out. */
  private renewed: string | undefined;
  private readonly now: () => number;

  constructor(
    private readonly s: SignedIn,
    private readonly o: KeeperOptions,
  ) {
    this.stamp = stampOf(s.path);
    this.now = o.now ?? Date.now;
  }

  /** A token valid for at least the margin more. @throws SessionEnded and no newer login in the file */
  get(): Promise<string> {
    const stored = storedToken(this.s.entry, this.now(), this.marginMs);
    if (stored) return Promise.resolve(stored.token);
    this.pending ??= this.refresh().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /**
   * Gatehouse answered 401 invalid_token to `rejected`: the token of a newer login from the
   * credentials file (or of the one another request already switched to), else undefined.
   */
  async renew(rejected: string): Promise<string | undefined> {
    if (this.s.entry.access_token === rejected) {
      const switched = stampOf(this.s.path) !== this.stamp && this.reload();
      if (!switched) {
        // Same login: only the access token was refused (say, sealed under a secret rotated out
        // since); its refresh token decides, once: a token a renewal made and Gatehouse refused
        // as well is passed on, not refreshed again for every request.
        if (rejected === this.renewed) return undefined;
        this.s.entry = withoutAccessToken(this.s.entry);
      }
    }
    const next = await this.get().catch(() => undefined);
    if (next !== undefined && next !== rejected) this.renewed = next;
    return next === rejected ? undefined : next;
  }

  private async refresh(): Promise<string> {
    if (stampOf(this.s.path) !== this.stamp) this.reload();
    const s = { ...this.s };
    let t;
    try {
      t = await freshAccessToken(s, this.now, this.marginMs);
    } catch (e) {
      // Refused: switched meanwhile, or a newer login is in the file; else the session ended.
      if (!(e instanceof SessionEnded) || (this.s.entry === s.entry && !this.reload())) throw e;
      t = await freshAccessToken({ ...this.s }, this.now, this.marginMs);
    }
    if (t.lifetimeMs) this.marginMs = Math.min(REFRESH_MARGIN_MS, t.lifetimeMs / 4);
    return t.token;
  }

  /** Reads our issuer's entry again; true when it holds another login, now the one in use. */
  private reload(): boolean {
    this.stamp = stampOf(this.s.path);
    let entry: CredentialEntry | undefined;
    try {
      entry = readCredentials(this.s.path)[this.s.issuer];
    } catch {
      return false; // unreadable or refused (mode): keep the login we have
    }
    if (!entry?.refresh_token) return false;
    const ours = this.s.entry;
    if (entry.refresh_token === ours.refresh_token) {
      // Another command refreshed this login: its access token serves until it expires.
      if ((Date.parse(entry.access_expires_at ?? '') || 0) > (Date.parse(ours.access_expires_at ?? '') || 0)) {
        Object.assign(ours, { access_token: entry.access_token, access_expires_at: entry.access_expires_at });
      }
      return false;
    }
    // The hosts a token may go to are the new login's: our origin must still be one of them.
    if (!mayReceiveToken(this.s.issuer, entry, this.o.origin)) {
      // Said once per version of the file, however many refusals read it.
      if (this.ignored !== this.stamp) this.o.onIgnored?.(this.s.issuer, this.o.origin);
      this.ignored = this.stamp;
      return false;
    }
    this.s.entry = { ...entry, hosts: [...(entry.hosts ?? [])] };
    this.o.onSwitch?.(this.s.issuer, entry.user, ours.user);
    return true;
  }
}
