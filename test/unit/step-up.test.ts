/**
 * Step-up authentication, the parts without HTTP: the documented order of authentication context
 * classes, what an AuthnRequest asks for, the ACS check of the answer (named after the attacks it
 * stops), the AuthnContextClassRef read from a signed AuthnStatement, and the route requirement
 * as the policy language writes and compiles it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCheck } from '../../proxy/cli/check.js';
import { configSchema, type ConnectionConfig } from '../../proxy/config/schema.js';
import { policyFileSchema } from '../../proxy/config/policy-schema.js';
import { isGatehouseError } from '../../proxy/errors.js';
import { compileRoutes } from '../../proxy/policy/compile.js';
import { stepUpNeeded } from '../../proxy/policy/step-up.js';
import { classSatisfies } from '../../proxy/config/authn-classes.js';
import { askFor, authnRequestOptions, checkAuthn, classRefOf } from '../../proxy/saml/authn-context.js';
import { parseStrictXml } from '../../proxy/saml/xml.js';

const AC = 'urn:oasis:names:tc:SAML:2.0:ac:classes:';
const PASSWORD = `${AC}Password`;
const PPT = `${AC}PasswordProtectedTransport`;
const X509 = `${AC}X509`;
const SMARTCARD = `${AC}Smartcard`;
const MFA = 'https://refeds.org/profile/mfa';
const CUSTOM = 'urn:example:acr:hardware-key';
const UP = 'http://127.0.0.1:1/';

function connection(extra: Record<string, unknown> = {}): ConnectionConfig {
  const config = configSchema.parse({
    server: { public_url: 'http://127.0.0.1:4180' },
    session: { secret: 'x'.repeat(32) },
    saml: { connections: [{ id: 'lab', idp_metadata_file: 'idp.xml', ...extra }] },
    policies: ['p.yaml'],
  });
  return config.saml.connections[0]!;
}

function refusedWith(fn: () => void, reason: string): void {
  assert.throws(fn, (err: unknown) => isGatehouseError(err, 'SAML_LOGIN_FAILED') && err.reason === reason);
}

describe('class order (docs/step-up.md)', () => {
  it('exact: only the classes asked for', () => {
    assert.equal(classSatisfies(X509, [X509, SMARTCARD], 'exact'), true);
    assert.equal(classSatisfies(MFA, [X509], 'exact'), false, 'even a class of the same rank is not exact');
    assert.equal(classSatisfies(undefined, [X509], 'exact'), false);
  });

  it('minimum: Password < PasswordProtectedTransport < X509 / Smartcard / MFA', () => {
    assert.equal(classSatisfies(PPT, [PASSWORD], 'minimum'), true);
    assert.equal(classSatisfies(X509, [PPT], 'minimum'), true);
    assert.equal(classSatisfies(MFA, [X509], 'minimum'), true, 'equal rank is at least as strong');
    assert.equal(classSatisfies(PASSWORD, [PPT], 'minimum'), false);
    assert.equal(classSatisfies(PPT, [X509], 'minimum'), false);
  });

  it('better: stronger than every class asked for', () => {
    assert.equal(classSatisfies(X509, [PPT], 'better'), true);
    assert.equal(classSatisfies(PPT, [PPT], 'better'), false, 'the same class is not better');
    assert.equal(classSatisfies(X509, [PASSWORD, X509], 'better'), false);
  });

  it('maximum: no stronger than one of the classes asked for', () => {
    assert.equal(classSatisfies(PASSWORD, [PPT], 'maximum'), true);
    assert.equal(classSatisfies(X509, [PPT], 'maximum'), false);
  });

  it('unknown classes satisfy only an exact match, whatever the comparison', () => {
    assert.equal(classSatisfies(CUSTOM, [PPT], 'minimum'), false, 'an unranked class is not "at least" anything');
    assert.equal(classSatisfies(CUSTOM, [PPT], 'better'), false);
    assert.equal(classSatisfies(CUSTOM, [X509], 'maximum'), false);
    assert.equal(classSatisfies(CUSTOM, [CUSTOM], 'exact'), true);
    assert.equal(classSatisfies(CUSTOM, [CUSTOM, PPT], 'minimum'), true, 'the very class asked for');
  });
});

describe('what an AuthnRequest asks', () => {
  it('by default: no RequestedAuthnContext, no ForceAuthn (as before step-up existed)', () => {
    const ask = askFor(connection());
    assert.deepEqual(ask, { comparison: 'exact', forceAuthn: false });
    assert.deepEqual(authnRequestOptions(ask), { forceAuthn: false, disableRequestedAuthnContext: true });
  });

  it("the connection's force_authn and authn_context go into every request", () => {
    const conn = connection({ force_authn: true, authn_context: { classes: [PPT], comparison: 'minimum' } });
    assert.deepEqual(authnRequestOptions(askFor(conn)), { forceAuthn: true, disableRequestedAuthnContext: false, authnContext: [PPT], racComparison: 'minimum' });
  });

  it("a step-up asks for the route's classes exactly, and ForceAuthn when the login is too old", () => {
    const conn = connection({ authn_context: { classes: [PPT], comparison: 'minimum' } });
    assert.deepEqual(askFor(conn, { classes: [X509, MFA], fresh: false }), { classes: [X509, MFA], comparison: 'exact', forceAuthn: false });
    assert.deepEqual(askFor(conn, { classes: undefined, fresh: true }), { classes: [PPT], comparison: 'minimum', forceAuthn: true });
  });

  it('config: a comparison other than exact is refused for a class Gatehouse does not rank', () => {
    assert.throws(() => connection({ authn_context: { classes: [CUSTOM], comparison: 'minimum' } }), /does not rank/);
    assert.equal(connection({ authn_context: { classes: [CUSTOM] } }).authn_context!.comparison, 'exact');
    assert.throws(() => connection({ authn_context: { classes: ['not a uri'] } }), /class URI/);
    assert.throws(() => connection({ authn_context: { classes: [PPT], comparison: 'stronger' } }));
  });
});

describe('the ACS checks the answer against what the login asked', () => {
  const started = Date.parse('2026-01-01T10:00:00Z');
  const skew = 60_000;

  it('a response claiming a weaker context than the step-up asked for is refused', () => {
    const ask = askFor(connection(), { classes: [X509], fresh: false });
    refusedWith(() => checkAuthn({ classRef: PPT, instant: started }, ask, connection(), { loginStartedAt: started, nowMs: started + 60_000, skewMs: skew }), 'authn-context-not-satisfied');
    refusedWith(() => checkAuthn({ instant: started }, ask, connection(), { loginStartedAt: started, nowMs: started + 60_000, skewMs: skew }), 'authn-context-not-satisfied');
    assert.doesNotThrow(() => checkAuthn({ classRef: X509, instant: started }, ask, connection(), { loginStartedAt: started, nowMs: started + 60_000, skewMs: skew }));
  });

  it("a step-up asking a route's weaker class is no way around the connection's own floor", () => {
    const conn = connection({ authn_context: { classes: [X509], comparison: 'minimum' } });
    const ask = askFor(conn, { classes: [PPT], fresh: false });
    refusedWith(() => checkAuthn({ classRef: PPT, instant: started }, ask, conn, { loginStartedAt: started, nowMs: started + 60_000, skewMs: skew }), 'authn-context-not-satisfied');
    assert.doesNotThrow(() => checkAuthn({ classRef: SMARTCARD, instant: started }, askFor(conn), conn, { loginStartedAt: started, nowMs: started + 60_000, skewMs: skew }));
  });

  it('an IdP reusing an old SSO session when ForceAuthn demanded a fresh login is refused', () => {
    const ask = askFor(connection(), { fresh: true });
    refusedWith(() => checkAuthn({ classRef: PPT, instant: started - 10 * 60_000 }, ask, connection(), { loginStartedAt: started, nowMs: started + 60_000, skewMs: skew }), 'authn-not-fresh');
    refusedWith(() => checkAuthn({ classRef: PPT }, ask, connection(), { loginStartedAt: started, nowMs: started + 60_000, skewMs: skew }), 'authn-not-fresh');
    assert.doesNotThrow(() => checkAuthn({ classRef: PPT, instant: started + 5_000 }, ask, connection(), { loginStartedAt: started, nowMs: started + 60_000, skewMs: skew }));
    assert.doesNotThrow(() => checkAuthn({ classRef: PPT, instant: started - 30_000 }, ask, connection(), { loginStartedAt: started, nowMs: started + 60_000, skewMs: skew }), 'within the clock skew');
  });

  it('an AuthnInstant in the future (a session kept "recent" past max_authn_age) is refused', () => {
    const when = { loginStartedAt: started, nowMs: started, skewMs: skew };
    refusedWith(() => checkAuthn({ classRef: PPT, instant: started + 3_600_000 }, askFor(connection()), connection(), when), 'authn-instant-in-future');
    assert.doesNotThrow(() => checkAuthn({ classRef: PPT, instant: started + 30_000 }, askFor(connection()), connection(), when), 'within the clock skew');
  });

  it('without ForceAuthn an SSO session answer is fine (control)', () => {
    assert.doesNotThrow(() => checkAuthn({ classRef: PPT, instant: started - 3_600_000 }, askFor(connection()), connection(), { loginStartedAt: started, nowMs: started + 60_000, skewMs: skew }));
  });
});

describe('AuthnContextClassRef from the AuthnStatement', () => {
  const statement = (inner: string) =>
    parseStrictXml(`<saml:AuthnStatement xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" AuthnInstant="2026-01-01T10:00:00Z">${inner}</saml:AuthnStatement>`).documentElement as unknown as Element;

  it('reads the class', () => {
    assert.equal(classRefOf(statement(`<saml:AuthnContext><saml:AuthnContextClassRef> ${X509} </saml:AuthnContextClassRef></saml:AuthnContext>`)), X509);
    assert.equal(classRefOf(statement('<saml:AuthnContext><saml:AuthnContextDeclRef>urn:x</saml:AuthnContextDeclRef></saml:AuthnContext>')), undefined);
    assert.equal(classRefOf(statement('')), undefined);
  });

  it('two classes in one statement are refused, not chosen between', () => {
    const two = `<saml:AuthnContext><saml:AuthnContextClassRef>${PPT}</saml:AuthnContextClassRef><saml:AuthnContextClassRef>${X509}</saml:AuthnContextClassRef></saml:AuthnContext>`;
    assert.throws(() => classRefOf(statement(two)), (e: unknown) => isGatehouseError(e) && e.reason === 'duplicate-authn-context-class-ref');
  });
});

describe('route requirement: require_authn_context and max_authn_age', () => {
  const compile = (r: Record<string, unknown>) =>
    compileRoutes([{ file: 't.yaml', policy: policyFileSchema.parse({ routes: [{ name: 'r', upstream: UP, allow: [{ authenticated: true }], ...r }] }), routeLines: [1] }])[0]!;
  const now = Date.parse('2026-01-01T12:00:00Z');

  it('compiles both keys; a route without them has no requirement', () => {
    const r = compile({ require_authn_context: [X509, MFA, X509], max_authn_age: '15m' });
    assert.deepEqual(r.stepUp?.classes, [X509, MFA]);
    assert.equal(r.stepUp?.maxAgeMs, 15 * 60_000);
    assert.equal(compile({}).stepUp, undefined);
  });

  it('refuses `public` with a step-up requirement (nobody would be asked) and a bad class', () => {
    assert.throws(() => compile({ allow: [{ public: true }], require_authn_context: [X509] }), /needs a signed-in user/);
    assert.throws(() => compile({ max_authn_age: '15' }), /duration/);
    assert.throws(() => compile({ require_authn_context: [] }));
  });

  it('a session whose class is not listed needs a step-up asking for the listed classes', () => {
    const r = compile({ require_authn_context: [X509, MFA] });
    const need = stepUpNeeded(r.stepUp!, { authnContextClassRef: PPT, authnInstant: now }, now);
    assert.deepEqual(need, { reasons: ['authn-context-insufficient'], classes: [X509, MFA], fresh: false, detail: { have_class: PPT, want_class: [X509, MFA] } });
    assert.equal(stepUpNeeded(r.stepUp!, { authnContextClassRef: MFA, authnInstant: now }, now), undefined, 'control: a listed class');
    assert.deepEqual(stepUpNeeded(r.stepUp!, {}, now)?.reasons, ['authn-context-insufficient'], 'a session without a class (fail closed)');
  });

  it('a login older than max_authn_age needs a fresh one (ForceAuthn)', () => {
    const r = compile({ max_authn_age: '15m' });
    const need = stepUpNeeded(r.stepUp!, { authnContextClassRef: PPT, authnInstant: now - 16 * 60_000 }, now);
    assert.deepEqual(need, { reasons: ['authn-too-old'], classes: undefined, fresh: true, detail: { age_s: 960, max_age_s: 900 } });
    assert.equal(stepUpNeeded(r.stepUp!, { authnInstant: now - 14 * 60_000 }, now), undefined, 'control: recent enough');
    assert.equal(stepUpNeeded(r.stepUp!, {}, now)?.fresh, true, 'no AuthnInstant: treated as too old');
  });

  it('both at once: both reasons, the classes and ForceAuthn', () => {
    const r = compile({ require_authn_context: [X509], max_authn_age: '1h' });
    const need = stepUpNeeded(r.stepUp!, { authnContextClassRef: PPT, authnInstant: now - 2 * 3_600_000 }, now)!;
    assert.deepEqual(need.reasons, ['authn-context-insufficient', 'authn-too-old']);
    assert.equal(need.fresh, true);
    assert.deepEqual(need.classes, [X509]);
  });
});

describe('gatehouse check', () => {
  async function check(authnContext: string, required: string, o: { allow?: string; deny?: string; more?: string; require?: string } = {}): Promise<{ code: number; err: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-step-up-check-'));
    try {
      mkdirSync(join(dir, 'policies'));
      writeFileSync(join(dir, 'gatehouse.yaml'), `demo: true
server: { public_url: "http://127.0.0.1:4180" }
session: {}
saml: { connections: [ { id: lab, idp_metadata_url: "http://127.0.0.1:9/md", authn_context: ${authnContext} }${o.more ?? ''} ] }
policies: [ "policies/*.yaml" ]
`);
      writeFileSync(join(dir, 'policies', 'routes.yaml'), `routes:
  - name: admin
    path: /admin
    upstream: http://127.0.0.1:9
    allow: [ ${o.allow ?? '{ authenticated: true }'} ]
${o.deny ? `    deny: [ ${o.deny} ]\n` : ''}${o.require ?? `    require_authn_context: [ ${required} ]`}
`);
      const err: string[] = [];
      const sink = (to: string[]) => ({ write: (c: string) => (to.push(String(c)), true) }) as unknown as NodeJS.WritableStream;
      const code = await runCheck(join(dir, 'gatehouse.yaml'), sink([]), sink(err), { strict: true, offline: true });
      return { code, err: err.join('') };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("warns at the route when a connection's authn_context accepts none of its classes (a step-up that always fails)", async () => {
    const r = await check(`{ classes: [ "${PPT}" ] }`, X509);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /routes\.yaml:2 route admin\.require_authn_context: warning: connection "lab" accepts none of these classes/);
  });

  it('control: no warning when the connection accepts one of them', async () => {
    assert.deepEqual(await check(`{ classes: [ "${PPT}" ], comparison: minimum }`, X509), { code: 0, err: '' });
    assert.deepEqual(await check(`{ classes: [ "${PPT}" ] }`, `"${PPT}", "${X509}"`), { code: 0, err: '' });
  });

  const second = ', { id: other, idp_metadata_url: "http://127.0.0.1:9/md2" }';
  const own = `{ classes: [ "${PPT}" ], comparison: minimum }`;

  it('step-up across connections: several connections and an allow rule without connections: warns (any IdP could assert the stronger class)', async () => {
    const r = await check(own, X509, { more: second });
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /routes\.yaml:2 route admin\.allow: warning: the route asks for a stronger or recent login .* any of the 2 connections' IdPs can assert it/);
    const age = await check(own, X509, { more: second, require: '    max_authn_age: 15m' });
    assert.match(age.err, /route admin\.allow: warning: the route asks for a stronger or recent login/, 'max_authn_age too');
    const mixed = await check(own, X509, { more: second, allow: '{ connections: [ lab ] }, { groups: [ admins ] }' });
    assert.match(mixed.err, /route admin\.allow: warning/, 'one allow rule without connections is enough to let any IdP in');
  });

  it('control: no cross-connection warning when every allow rule names connections, a deny refuses the others, or there is one connection', async () => {
    assert.deepEqual(await check(own, X509, { more: second, allow: '{ connections: [ lab ] }' }), { code: 0, err: '' });
    assert.deepEqual(await check(own, X509, { more: second, allow: '{ groups: [ admins ], and: [ { connections: [ lab ] } ] }, { or: [ { connections: [ lab ] }, { connections: [ other ], emails: [ "a@example.com" ] } ] }' }), { code: 0, err: '' });
    assert.deepEqual(await check(own, X509, { more: second, deny: '{ not: { connections: [ lab ] } }' }), { code: 0, err: '' });
    assert.deepEqual(await check(own, X509), { code: 0, err: '' });
  });
});
