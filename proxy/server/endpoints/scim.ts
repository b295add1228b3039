import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { fail } from '../../errors.js';
import type { RequestTarget } from '../../path.js';
import { ScimDirectory, USER_SCHEMA, type ScimUser, type ScimUserInput } from '../../scim/scim-directory.js';
import { bearerToken, tokenMatches } from '../admin-auth.js';
import type { AppContext, RequestScope } from '../context.js';
import { readJson } from '../form-body.js';
import { sendJson } from '../respond.js';
import { PATHS } from './paths.js';
import { logRevoked } from './admin.js';

const SCIM_JSON = ['application/scim+json', 'application/json'];
const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const MAX_BODY = 64 * 1024;

/** SCIM booleans as IdPs send them: Entra ID sends "True" / "False" strings in PATCH. */
const scimBool = z.union([z.boolean(), z.enum(['True', 'False', 'true', 'false']).transform((s) => s.toLowerCase() === 'true')]);
const email = z.looseObject({ value: z.string().min(1).max(320), primary: scimBool.optional(), type: z.string().max(64).optional() });
/** A POST / PUT body: the attributes Gatehouse keeps are checked, others (title, enterprise extension...) are ignored. */
const userBody = z.looseObject({
  userName: z.string().min(1).max(320),
  externalId: z.string().max(512).optional(),
  active: scimBool.default(true),
  emails: z.array(email).max(20).default([]),
  displayName: z.string().max(512).optional(),
  name: z.looseObject({ givenName: z.string().max(256).optional(), familyName: z.string().max(256).optional(), formatted: z.string().max(512).optional() }).optional(),
});
const patchBody = z.looseObject({
  Operations: z.array(z.looseObject({ op: z.string().transform((s) => s.toLowerCase()), path: z.string().max(256).optional(), value: z.unknown() })).min(1).max(100),
});

/**
 * SCIM 2.0 (RFC 7643/7644) `Users`, for identity providers to deprovision users: PATCH or PUT
 * with `active: false`, or DELETE, ends every session of that user on every instance and refuses
 * their logins until the IdP sets `active: true` again. Guarded by `admin.scim_token` (Bearer).
 * Supported: POST, GET by id, GET with `filter=userName eq "..."`, PUT, PATCH (active, userName,
 * displayName, externalId, name.*, emails), DELETE, and ServiceProviderConfig.
 */
export async function handleScim(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope, target: RequestTarget): Promise<void> {
  const want = ctx.config.admin.scim_token;
  if (want === undefined) throw fail('ROUTE_NOT_FOUND', 'scim-off');
  if (!tokenMatches(bearerToken(req), want)) throw fail('AUTHENTICATION_REQUIRED', 'scim-token-wrong');
  const rest = target.path.slice(PATHS.scim.length);
  const method = req.method ?? 'GET';
  if (rest === 'ServiceProviderConfig' && method === 'GET') return sendScim(res, 200, serviceProviderConfig());
  if (rest === 'Users') {
    if (method === 'GET') return listUsers(res, ctx, target);
    if (method === 'POST') return createUser(req, res, ctx, scope);
    throw fail('METHOD_NOT_ALLOWED', 'scim-method');
  }
  const m = /^Users\/([0-9a-f-]{36})$/.exec(rest);
  if (!m) return scimError(res, 404, 'No such resource.');
  const user = await ctx.directory.get(m[1]!);
  if (!user) return scimError(res, 404, 'User not found.');
  if (method === 'GET') return sendScim(res, 200, toScim(user, ctx));
  if (method === 'DELETE') {
    // Sessions first: if ending them fails (store unavailable), the record is still there for
    // the IdP's retry, instead of a 404 that would leave the sessions alive.
    await endSessions(ctx, scope, user);
    await ctx.directory.delete(user);
    res.writeHead(204).end();
    return;
  }
  if (method === 'PUT' || method === 'PATCH') {
    const body = await readJson(req, MAX_BODY, SCIM_JSON);
    const next = method === 'PUT' ? parseUser(body) : applyPatch(user, body);
    if (typeof next === 'string') return scimError(res, 400, next, 'invalidValue');
    const other = next.userName.toLowerCase() === user.userName.toLowerCase() ? undefined : await ctx.directory.findByUserName(next.userName);
    if (other) return scimError(res, 409, 'userName already in use.', 'uniqueness');
    // Sessions end first (idempotent; a failure leaves the record unchanged for the retry), for
    // every name the user has had: a rename must not keep a session filed under an old name alive.
    if (!next.active) await endSessions(ctx, scope, user, { ...user, ...next });
    const saved = await ctx.directory.replace(user, next);
    return sendScim(res, 200, toScim(saved, ctx));
  }
  throw fail('METHOD_NOT_ALLOWED', 'scim-method');
}

async function listUsers(res: ServerResponse, ctx: AppContext, target: RequestTarget): Promise<void> {
  const filter = new URLSearchParams(target.query.slice(1)).get('filter');
  if (filter === null) return sendScim(res, 200, { schemas: [LIST_SCHEMA], totalResults: 0, itemsPerPage: 0, startIndex: 1, Resources: [] });
  const m = /^userName eq "((?:[^"\\]|\\.){1,320})"$/i.exec(filter.trim());
  if (!m) return scimError(res, 400, 'Only filter=userName eq "..." is supported.', 'invalidFilter');
  const user = await ctx.directory.findByUserName(m[1]!.replace(/\\(.)/g, '$1'));
  const found = user ? [toScim(user, ctx)] : [];
  return sendScim(res, 200, { schemas: [LIST_SCHEMA], totalResults: found.length, itemsPerPage: found.length, startIndex: 1, Resources: found });
}

async function createUser(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope): Promise<void> {
  const input = parseUser(await readJson(req, MAX_BODY, SCIM_JSON));
  if (typeof input === 'string') return scimError(res, 400, input, 'invalidValue');
  const user = await ctx.directory.create(input);
  if (user === 'conflict') return scimError(res, 409, 'userName already in use.', 'uniqueness');
  // Provisioned as inactive: whatever sessions exist under these names end now (a failure
  // answers 503; the IdP's retry finds the user and PUTs or PATCHes it again).
  if (!user.active) await endSessions(ctx, scope, user);
  return sendScim(res, 201, toScim(user, ctx), { location: location(ctx, user) });
}

/** Ends every session filed under any name of the user (userName, emails), before and after a change. */
async function endSessions(ctx: AppContext, scope: RequestScope, ...users: ScimUser[]): Promise<void> {
  const names = [...new Set(users.flatMap((u) => ScimDirectory.allNamesOf(u)))];
  const revoked = new Set<string>();
  for (const name of names) for (const id of (await ctx.sessionAdmin.revokeUser(name)).revoked) revoked.add(id);
  logRevoked(ctx, scope, { kind: 'scim' }, [...revoked], { scim_user: users[0]!.id, user_name: users[0]!.userName });
}

function parseUser(body: unknown): ScimUserInput | string {
  const r = userBody.safeParse(body);
  if (!r.success) return `Invalid user: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`;
  const { userName, externalId, active, emails, displayName, name } = r.data;
  return {
    userName,
    active,
    emails: emails.map((e) => ({ value: e.value, ...(e.primary !== undefined ? { primary: e.primary } : {}), ...(e.type ? { type: e.type } : {}) })),
    ...(externalId !== undefined ? { externalId } : {}),
    ...(displayName !== undefined ? { displayName } : {}),
    ...(name ? { name: { ...(name.givenName ? { givenName: name.givenName } : {}), ...(name.familyName ? { familyName: name.familyName } : {}), ...(name.formatted ? { formatted: name.formatted } : {}) } } : {}),
  };
}

/**
 * RFC 7644 3.5.2 PATCH, for the attributes Gatehouse keeps. Operations on other attributes are
 * accepted and ignored (IdPs send every attribute they map; refusing them would break provisioning).
 */
function applyPatch(user: ScimUser, body: unknown): ScimUserInput | string {
  const r = patchBody.safeParse(body);
  if (!r.success) return 'Invalid PatchOp: Operations must be a list of {op, path, value}.';
  const { id: _id, meta: _meta, ...next } = structuredClone(user);
  for (const op of r.data.Operations) {
    if (!['add', 'replace', 'remove'].includes(op.op)) return `Unsupported op "${op.op}".`;
    const updates: Array<[string, unknown]> = op.path === undefined ? Object.entries((op.value ?? {}) as Record<string, unknown>) : [[op.path, op.value]];
    for (const [path, value] of updates) {
      const problem = setAttribute(next, path, op.op === 'remove' ? undefined : value);
      if (problem) return problem;
    }
  }
  return parseUser(next);
}

function setAttribute(user: ScimUserInput, path: string, value: unknown): string | undefined {
  const p = path.replace(new RegExp(`^${USER_SCHEMA}:`, 'i'), '');
  const lower = p.toLowerCase();
  if (lower === 'active') {
    const v = scimBool.safeParse(value);
    if (!v.success) return 'active must be a boolean.';
    user.active = v.data;
  } else if (lower === 'username') {
    if (typeof value !== 'string' || !value) return 'userName must be a non-empty string.';
    user.userName = value;
  } else if (lower === 'displayname' || lower === 'externalid') {
    const key = lower === 'displayname' ? 'displayName' : 'externalId';
    if (value === undefined) delete user[key];
    else if (typeof value === 'string') user[key] = value;
    else return `${key} must be a string.`;
  } else if (lower.startsWith('name.')) {
    const key = ({ 'name.givenname': 'givenName', 'name.familyname': 'familyName', 'name.formatted': 'formatted' } as const)[lower];
    if (key) {
      user.name ??= {};
      if (typeof value === 'string') user.name[key] = value;
      else delete user.name[key];
    }
  } else if (lower === 'emails' || lower.startsWith('emails[')) {
    const list = lower === 'emails' ? value : typeof value === 'string' ? [{ value, primary: true, type: /type eq "([^"]+)"/i.exec(p)?.[1] }] : undefined;
    if (value === undefined) user.emails = [];
    else if (Array.isArray(list)) user.emails = list as ScimUserInput['emails'];
    else return 'emails must be a list.';
  }
  return undefined;
}

function toScim(user: ScimUser, ctx: AppContext) {
  const { formerNames: _former, ...shown } = user;
  return { schemas: [USER_SCHEMA], ...shown, meta: { resourceType: 'User', ...user.meta, location: location(ctx, user) } };
}

function location(ctx: AppContext, user: ScimUser): string {
  return `${ctx.publicUrl.origin}${PATHS.scim}Users/${user.id}`;
}

function serviceProviderConfig() {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: 1 },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: false },
    authenticationSchemes: [{ type: 'oauthbearertoken', name: 'OAuth Bearer Token', description: 'admin.scim_token as a Bearer token' }],
  };
}

function sendScim(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  sendJson(res, status, body, { 'content-type': 'application/scim+json; charset=utf-8', ...extra });
}

function scimError(res: ServerResponse, status: number, detail: string, scimType?: string): void {
  sendScim(res, status, { schemas: [ERROR_SCHEMA], status: String(status), detail, ...(scimType ? { scimType } : {}) });
}
