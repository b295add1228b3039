/**
 * Policy: deny wins, nothing is allowed by default, every criterion of a rule must hold, and each
 * decision says why (reasons and the deciding rule are logged, so they are asserted here).
 * Route table: the most specific route wins, on whole path segments only.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { policyFileSchema } from '../../proxy/config/policy-schema.js';
import { loadPolicyFiles } from '../../proxy/config/load.js';
import type { ConfigProblem } from '../../proxy/config/problems.js';
import { compileRoutes, type CompiledRoute } from '../../proxy/policy/compile.js';
import { evaluate, type RouteRules } from '../../proxy/policy/evaluate.js';
import { underPrefix } from '../../proxy/policy/path-pattern.js';
import { RouteTable } from '../../proxy/policy/route-table.js';
import type { Decision, Identity, RequestFacts } from '../../proxy/policy/types.js';

const FIXTURES = new URL('../fixtures/config/', import.meta.url).pathname;

/** Compiles routes from policy-file shaped objects through the real schema (defaults applied). */
function compile(...routes: Array<Record<string, unknown>>): CompiledRoute[] {
  const policy = policyFileSchema.parse({ routes });
  return compileRoutes([{ file: 'test.yaml', policy, routeLines: routes.map((_r, i) => 10 * (i + 1)) }]);
}

/** One route's rules from allow/deny lists. */
function rules(allow: unknown[], deny: unknown[] = []): RouteRules {
  const [route] = compile({ name: 'r', upstream: 'http://127.0.0.1:1/', allow, deny });
  assert.ok(route);
  return route;
}

function who(user: string, email: string | undefined, groups: string[] = []): Identity {
  return { user, groups, connection: 'lab', ...(email === undefined ? {} : { email }) };
}

const ALICE = who('alice', 'alice@example.com', ['ml-engineers', 'admins']);
const BOB = who('bob', 'bob@example.com', ['data-scientists']);
const CAROL = who('carol', 'carol@example.com');
const NOMAIL = who('dave', undefined, ['ml-engineers']);

type Expect = Pick<Decision, 'allow' | 'reasons'> & { unauthenticated?: boolean; rule?: string };

const GET_ROOT: RequestFacts = { method: 'GET', path: '/', clientIp: '127.0.0.1' };

function check(rr: RouteRules, id: Identity | undefined, expected: Expect, req: RequestFacts = GET_ROOT): void {
  const d = evaluate(rr, id, req);
  assert.deepEqual(
    { allow: d.allow, unauthenticated: d.unauthenticated, reasons: d.reasons, rule: d.rule },
    { unauthenticated: false, ...expected, rule: expected.rule },
  );
}

describe('evaluate', () => {
  const cases: Array<[string, RouteRules, Identity | undefined, Expect]> = [
    // default deny
    ['anonymous on a signed-in route is sent to sign in', rules([{ authenticated: true }]), undefined,
      { allow: false, unauthenticated: true, reasons: ['user-unauthenticated'] }],
    ['a user outside every group is refused (default deny)', rules([{ groups: ['admins'] }]), BOB,
      { allow: false, reasons: ['groups-unauthorized'] }],
    ['a user without groups is refused', rules([{ groups: ['admins'] }]), CAROL,
      { allow: false, reasons: ['groups-unauthorized'] }],
    // connections (which IdP)
    ['IdP impersonation: a user from another connection does not pass a connections rule', rules([{ connections: ['okta'], groups: ['admins'] }]), ALICE,
      { allow: false, reasons: ['connection-unauthorized'] }],
    ['a user from the named connection passes', rules([{ connections: ['lab'], groups: ['admins'] }]), ALICE,
      { allow: true, reasons: ['connection-ok', 'groups-ok'], rule: 'allow[0]' }],
    // public
    ['public admits anonymous', rules([{ public: true }]), undefined, { allow: true, reasons: ['public'], rule: 'allow[0]' }],
    ['public admits a signed-in user', rules([{ public: true }]), BOB, { allow: true, reasons: ['public'], rule: 'allow[0]' }],
    ['public after a non-matching rule still admits', rules([{ groups: ['admins'] }, { public: true }]), BOB,
      { allow: true, reasons: ['public'], rule: 'allow[1]' }],
    // authenticated
    ['authenticated admits any signed-in user', rules([{ authenticated: true }]), CAROL,
      { allow: true, reasons: ['authenticated'], rule: 'allow[0]' }],
    // groups any-of
    ['groups: one of several is enough', rules([{ groups: ['x', 'admins', 'y'] }]), ALICE,
      { allow: true, reasons: ['groups-ok'], rule: 'allow[0]' }],
    ['groups are case-sensitive (as the IdP sent them)', rules([{ groups: ['Admins'] }]), ALICE,
      { allow: false, reasons: ['groups-unauthorized'] }],
    // emails
    ['emails compare case-insensitively', rules([{ emails: ['Alice@Example.COM'] }]), ALICE,
      { allow: true, reasons: ['email-ok'], rule: 'allow[0]' }],
    ['another email is refused', rules([{ emails: ['alice@example.com'] }]), BOB,
      { allow: false, reasons: ['email-unauthorized'] }],
    ['no email is refused by an emails rule', rules([{ emails: ['alice@example.com'] }]), NOMAIL,
      { allow: false, reasons: ['email-unauthorized'] }],
    ['email prefix is not the email', rules([{ emails: ['alice@example.com'] }]), who('a', 'alice@example.com.evil.com'),
      { allow: false, reasons: ['email-unauthorized'] }],
    // email_domains
    ['email domain matches, case-insensitively', rules([{ email_domains: ['Example.COM'] }]), BOB,
      { allow: true, reasons: ['email-domain-ok'], rule: 'allow[0]' }],
    ['look-alike domain with a dash (evil-example.com)', rules([{ email_domains: ['example.com'] }]), who('m', 'm@evil-example.com'),
      { allow: false, reasons: ['email-domain-unauthorized'] }],
    ['domain as a prefix of another (example.com.evil.com)', rules([{ email_domains: ['example.com'] }]), who('m', 'm@example.com.evil.com'),
      { allow: false, reasons: ['email-domain-unauthorized'] }],
    ['domain as a suffix without a dot (notexample.com)', rules([{ email_domains: ['example.com'] }]), who('m', 'm@notexample.com'),
      { allow: false, reasons: ['email-domain-unauthorized'] }],
    ['sub-domain is another domain', rules([{ email_domains: ['example.com'] }]), who('m', 'm@sub.example.com'),
      { allow: false, reasons: ['email-domain-unauthorized'] }],
    ['domain inside the local part (example.com@evil.com)', rules([{ email_domains: ['example.com'] }]), who('m', 'example.com@evil.com'),
      { allow: false, reasons: ['email-domain-unauthorized'] }],
    ['an email attribute without @ has no domain (IdP attribute "example.com")', rules([{ email_domains: ['example.com'] }]), who('m', 'example.com'),
      { allow: false, reasons: ['email-domain-unauthorized'] }],
    ['no email is refused by a domain rule', rules([{ email_domains: ['example.com'] }]), NOMAIL,
      { allow: false, reasons: ['email-domain-unauthorized'] }],
    // several criteria: all must hold
    ['groups and domain both hold', rules([{ groups: ['ml-engineers'], email_domains: ['example.com'] }]), ALICE,
      { allow: true, reasons: ['groups-ok', 'email-domain-ok'], rule: 'allow[0]' }],
    ['group holds, domain does not', rules([{ groups: ['ml-engineers'], email_domains: ['example.com'] }]), who('m', 'm@evil.com', ['ml-engineers']),
      { allow: false, reasons: ['email-domain-unauthorized'] }],
    ['domain holds, group does not', rules([{ groups: ['ml-engineers'], email_domains: ['example.com'] }]), BOB,
      { allow: false, reasons: ['groups-unauthorized'] }],
    ['authenticated with groups needs the group', rules([{ authenticated: true, groups: ['admins'] }]), BOB,
      { allow: false, reasons: ['groups-unauthorized'] }],
    ['every criterion reports its reason', rules([{ authenticated: true, groups: ['admins'], emails: ['alice@example.com'], email_domains: ['example.com'] }]), ALICE,
      { allow: true, reasons: ['authenticated', 'groups-ok', 'email-ok', 'email-domain-ok'], rule: 'allow[0]' }],
    // several rules
    ['the first matching rule decides', rules([{ groups: ['admins'] }, { authenticated: true }]), ALICE,
      { allow: true, reasons: ['groups-ok'], rule: 'allow[0]' }],
    ['a later rule can admit', rules([{ groups: ['admins'] }, { email_domains: ['example.com'] }]), BOB,
      { allow: true, reasons: ['email-domain-ok'], rule: 'allow[1]' }],
    ['every near miss is reported', rules([{ groups: ['admins'] }, { emails: ['alice@example.com'] }, { groups: ['x'] }]), BOB,
      { allow: false, reasons: ['groups-unauthorized', 'email-unauthorized'] }],
    // deny wins
    ['deny wins over a matching allow (by email)', rules([{ groups: ['admins'] }], [{ emails: ['ALICE@example.com'] }]), ALICE,
      { allow: false, reasons: ['denied-by-rule', 'email-ok'], rule: 'deny[0]' }],
    ['deny wins over public for a signed-in user', rules([{ public: true }], [{ groups: ['data-scientists'] }]), BOB,
      { allow: false, reasons: ['denied-by-rule', 'groups-ok'], rule: 'deny[0]' }],
    ['identity deny sidestepped by staying anonymous: a public route whose deny could hold asks for sign-in', rules([{ public: true }], [{ authenticated: true }]), undefined,
      { allow: false, unauthenticated: true, reasons: ['user-unauthenticated'] }],
    ['second deny rule labelled', rules([{ authenticated: true }], [{ groups: ['nobody'] }, { email_domains: ['example.com'] }]), BOB,
      { allow: false, reasons: ['denied-by-rule', 'email-domain-ok'], rule: 'deny[1]' }],
    ['a deny rule that does not match leaves allow to decide', rules([{ authenticated: true }], [{ groups: ['contractors'] }]), BOB,
      { allow: true, reasons: ['authenticated'], rule: 'allow[0]' }],
    ['a deny rule needs all its criteria too', rules([{ authenticated: true }], [{ groups: ['data-scientists'], email_domains: ['evil.com'] }]), BOB,
      { allow: true, reasons: ['authenticated'], rule: 'allow[0]' }],
  ];
  for (const [name, rr, id, expected] of cases) {
    it(name, () => check(rr, id, expected));
  }
});

describe('compileRoutes', () => {
  it('compiles prefix, host, rule labels and source', () => {
    const [r] = compile({ name: 'api', host: 'API.Example.com', path: '/api/', upstream: 'http://10.0.0.1:80/v1', allow: [{ public: true }], deny: [{ groups: ['x'] }] });
    assert.ok(r);
    assert.equal(r.host, 'api.example.com');
    assert.equal(r.path.text, '/api');
    assert.equal(r.path.kind, 'prefix');
    assert.equal(r.upstream.href, 'http://10.0.0.1/v1');
    assert.deepEqual(r.allow.map((x) => x.label), ['allow[0]']);
    assert.deepEqual(r.deny.map((x) => x.label), ['deny[0]']);
    assert.equal(r.source, 'test.yaml:10');
    assert.ok(Object.isFrozen(r));
  });

  const prefixes: Array<[string, string]> = [['/', '/'], ['/api', '/api'], ['/api/', '/api'], ['/v1/models/', '/v1/models']];
  for (const [path, prefix] of prefixes) {
    it(`route path ${path} compiles to prefix ${prefix}`, () => assert.equal(compile({ name: 'r', path, upstream: 'http://127.0.0.1:1/', allow: [{ public: true }] })[0]?.path.text, prefix));
  }

  for (const path of ['/api//', '/a/../b', '/a/./b', '/a;x', 'api', '/a?b', '/a\\b']) {
    it(`route path ${path} that no normalized request could match is a config error`, () => {
      const parsed = policyFileSchema.safeParse({ routes: [{ name: 'r', path, upstream: 'http://127.0.0.1:1/', allow: [{ public: true }] }] });
      assert.equal(parsed.success, false);
    });
  }

  it('compiles YAML read through the real loader, with file:line sources', () => {
    const problems: ConfigProblem[] = [];
    const { files } = loadPolicyFiles(['valid/policies/*.yaml'], FIXTURES, {}, problems);
    assert.deepEqual(problems, []);
    const routes = compileRoutes(files);
    assert.deepEqual(routes.map((r) => r.name), ['notebooks', 'public-docs']);
    assert.match(routes[0]!.source, /valid[/\\]policies[/\\]routes\.yaml:\d+$/);
    check(routes[0]!, ALICE, { allow: true, reasons: ['groups-ok'], rule: 'allow[0]' });
    check(routes[0]!, who('x', 'x@contractor.example.com', ['ml-engineers']), { allow: false, reasons: ['denied-by-rule', 'email-domain-ok'], rule: 'deny[0]' });
  });
});

describe('underPrefix: whole segments only', () => {
  const cases: Array<[string, string, boolean]> = [
    ['/api', '/api', true],
    ['/api/', '/api', true],
    ['/api/x', '/api', true],
    ['/apix', '/api', false],
    ['/ap', '/api', false],
    ['/', '/api', false],
    ['/anything', '/', true],
    ['/', '/', true],
  ];
  for (const [path, prefix, expected] of cases) {
    it(`${path} ${expected ? 'is' : 'is not'} under ${prefix}`, () => assert.equal(underPrefix(path, prefix), expected));
  }
});

describe('RouteTable', () => {
  const up = 'http://127.0.0.1:1/';
  const allow = [{ authenticated: true }];
  const table = new RouteTable(compile(
    { name: 'any-root', path: '/', upstream: up, allow },
    { name: 'any-api', path: '/api/', upstream: up, allow },
    { name: 'any-api-v1', path: '/api/v1', upstream: up, allow },
    { name: 'nb-root', host: 'nb.example.com', upstream: up, allow },
    { name: 'nb-api', host: 'nb.example.com', path: '/api', upstream: up, allow },
    { name: 'nb-8443-admin', host: 'NB.example.com:8443', path: '/admin', upstream: up, allow },
    { name: 'v6', host: '[::1]:8080', path: '/', upstream: up, allow },
  ));

  const cases: Array<[string, string, string, string | undefined]> = [
    // [why, host, path, route]
    ['exact host:port wins', 'nb.example.com:8443', '/admin/users', 'nb-8443-admin'],
    ['host:port route misses: hostname routes next', 'nb.example.com:8443', '/notebooks', 'nb-root'],
    ['hostname route on any port', 'nb.example.com:4180', '/admin', 'nb-root'],
    ['hostname route without port', 'nb.example.com', '/x', 'nb-root'],
    ['longest prefix within a host', 'nb.example.com', '/api/x', 'nb-api'],
    ['prefix itself', 'nb.example.com', '/api', 'nb-api'],
    ['segment boundary within a host', 'nb.example.com', '/apix', 'nb-root'],
    ['other hosts use any-host routes', 'other.example.com', '/x', 'any-root'],
    ['trailing slash in the route path: /api/ covers /api', 'other.example.com', '/api', 'any-api'],
    ['trailing slash in the route path: covers /api/x', 'other.example.com', '/api/x', 'any-api'],
    ['segment boundary: /apix is not under /api', 'other.example.com', '/apix', 'any-root'],
    ['longest prefix wins', 'other.example.com', '/api/v1/models', 'any-api-v1'],
    ['longest prefix on a segment boundary only', 'other.example.com', '/api/v10', 'any-api'],
    ['IPv6 host:port', '[::1]:8080', '/x', 'v6'],
    ['IPv6 on another port', '[::1]:9090', '/x', 'any-root'],
  ];
  for (const [why, host, path, name] of cases) {
    it(`${why}: ${host}${path} -> ${name}`, () => assert.equal(routeName(table, host, path), name));
  }

  it('finds no route when nothing covers the path', () => {
    const t = new RouteTable(compile({ name: 'api', path: '/api', upstream: up, allow }, { name: 'h', host: 'h.example.com', upstream: up, allow }));
    assert.equal(t.match('x.example.com', '/apix', 'GET'), undefined);
    assert.equal(t.match('x.example.com', '/', 'GET'), undefined);
    assert.equal(routeName(t, 'h.example.com:1', '/anything'), 'h');
  });

  it('does not depend on declaration order', () => {
    const a = compile({ name: 'short', path: '/a', upstream: up, allow }, { name: 'long', path: '/a/b', upstream: up, allow });
    for (const routes of [a, [...a].reverse()]) assert.equal(routeName(new RouteTable(routes), 'x', '/a/b/c'), 'long');
  });
});

/** The name of the route a GET finds, if any. */
export function routeName(table: RouteTable, host: string, path: string, method = 'GET'): string | undefined {
  const hit = table.match(host, path, method);
  return hit && 'route' in hit ? hit.route.name : undefined;
}
