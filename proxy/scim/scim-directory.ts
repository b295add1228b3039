import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { StateStore } from '../store/state-store.js';

/** The SCIM 2.0 core user schema URN (RFC 7643 section 4.1). */
export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';

/** What Gatehouse keeps of a provisioned user: enough to answer the IdP and to act on `active`. */
export interface ScimUser {
  id: string;
  userName: string;
  externalId?: string;
  active: boolean;
  emails: Array<{ value: string; primary?: boolean; type?: string }>;
  displayName?: string;
  name?: { givenName?: string; familyName?: string; formatted?: string };
  meta: { created: string; lastModified: string };
  /** Names the user had before a rename (sessions are filed under the names at login). Kept, never shown. */
  formerNames?: string[];
}

/** The fields a client may write (POST / PUT body, after validation). */
export type ScimUserInput = Omit<ScimUser, 'id' | 'meta' | 'formerNames'>;

/** Former names kept per user. */
const MAX_FORMER_NAMES = 20;

/**
 * Records are refreshed on every write; one the IdP leaves alone this long is forgotten
 * (the IdP sends it again on its next full sync).
 */
const RECORD_TTL_MS = 400 * 86_400_000;

/**
 * Provisioned users in the shared store (memory or Redis), by SCIM id and by userName, plus the
 * names (userName, emails) of deactivated users, so a login of someone the IdP switched off is
 * refused even if an assertion still arrives.
 */
export class ScimDirectory {
  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
  ) {}

  async get(id: string): Promise<ScimUser | undefined> {
    const raw = await this.store.get(`u:${id}`);
    return raw === undefined ? undefined : (JSON.parse(raw) as ScimUser);
  }

  async findByUserName(userName: string): Promise<ScimUser | undefined> {
    const id = await this.store.get(`n:${userName.toLowerCase()}`);
    return id === undefined ? undefined : this.get(id);
  }

  /** @returns the new user, or `conflict` when the userName is taken (RFC 7644 3.3: 409 uniqueness) */
  async create(input: ScimUserInput): Promise<ScimUser | 'conflict'> {
    const now = new Date(this.clock.now()).toISOString();
    const user: ScimUser = { ...input, id: randomUUID(), meta: { created: now, lastModified: now } };
    if (!(await this.store.putIfAbsent(`n:${input.userName.toLowerCase()}`, user.id, RECORD_TTL_MS))) return 'conflict';
    await this.save(user, undefined);
    return user;
  }

  /** Writes a changed user (the id and creation time kept). */
  async replace(old: ScimUser, input: ScimUserInput): Promise<ScimUser> {
    const now = ScimDirectory.namesOf(input);
    const former = [...new Set([...(old.formerNames ?? []), ...ScimDirectory.namesOf(old)])].filter((n) => !now.includes(n)).slice(-MAX_FORMER_NAMES);
    const user: ScimUser = { ...input, id: old.id, meta: { created: old.meta.created, lastModified: new Date(this.clock.now()).toISOString() }, ...(former.length ? { formerNames: former } : {}) };
    if (old.userName.toLowerCase() !== user.userName.toLowerCase()) await this.store.delete(`n:${old.userName.toLowerCase()}`);
    await this.store.put(`n:${user.userName.toLowerCase()}`, user.id, RECORD_TTL_MS);
    await this.save(user, old);
    return user;
  }

  /** Forgets a user; its names (former ones too) stay marked deactivated (DELETE means: no more access). */
  async delete(user: ScimUser): Promise<void> {
    await this.markNames(user, false);
    for (const n of user.formerNames ?? []) await this.store.put(`d:${n}`, '1', RECORD_TTL_MS);
    await this.store.delete(`u:${user.id}`);
    await this.store.delete(`n:${user.userName.toLowerCase()}`);
  }

  /** True when any of these names belongs to a user the IdP deactivated or deleted. */
  async isDeactivated(names: ReadonlyArray<string | undefined>): Promise<boolean> {
    const keys = [...new Set(names.filter((n): n is string => !!n).map((n) => n.toLowerCase()))];
    const hits = await Promise.all(keys.map((k) => this.store.get(`d:${k}`)));
    return hits.some((h) => h !== undefined);
  }

  /** The names a user signs in with: userName and every email. */
  static namesOf(user: Pick<ScimUser, 'userName' | 'emails'>): string[] {
    return [...new Set([user.userName, ...user.emails.map((e) => e.value)].map((n) => n.toLowerCase()))];
  }

  /** Every name sessions of this user may be filed under: current ones and those before renames. */
  static allNamesOf(user: ScimUser): string[] {
    return [...new Set([...ScimDirectory.namesOf(user), ...(user.formerNames ?? [])])];
  }

  private async save(user: ScimUser, old: ScimUser | undefined): Promise<void> {
    await this.store.put(`u:${user.id}`, JSON.stringify(user), RECORD_TTL_MS);
    // Names the user no longer has are not left blocked; its current names follow `active`.
    if (old) for (const n of ScimDirectory.namesOf(old)) if (!ScimDirectory.namesOf(user).includes(n)) await this.store.delete(`d:${n}`);
    await this.markNames(user, user.active);
  }

  private async markNames(user: ScimUser, active: boolean): Promise<void> {
    for (const n of ScimDirectory.namesOf(user)) {
      if (active) await this.store.delete(`d:${n}`);
      else await this.store.put(`d:${n}`, '1', RECORD_TTL_MS);
    }
  }
}
