/**
 * The policy language beyond single rules: host wildcards, path globs and exact paths, methods,
 * and/or/not with three-valued logic for anonymous requests, groups any/all, `paths`,
 * `source_ip`; the schema refusing rules that cannot mean what they say; and the matcher's
 * documented "most specific wins" order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { policyFileSchema } from '../../proxy/config/policy-schema.js';
import { checkPolicySemantics } from '../../proxy/config/semantics.js';
import type { ConfigProblem } from '../../proxy/config/problems.js';
import { compileRoutes, type CompiledRoute } from '../../proxy/policy/compile.js';
import { evaluate } from '../../proxy/policy/evaluate.js';
import { grantingGroups } from '../../proxy/policy/granting-groups.js';
import { compilePathPattern } from '../../proxy/policy/path-pattern.js';
import { RouteTable } from '../../proxy/policy/route-table.js';
import { findShadows } from '../../proxy/policy/shadowing.js';
import type { Identity, RequestFacts } from '../../proxy/policy/types.js';
import { buildTrustList, clientAddress } from '../../proxy/server/trusted-proxies.js';

const UP = 'http://127.0.0.1:1/';

function compile(...routes: Array<Record<string, unknown>>): CompiledRoute[] {
  const policy = policyFileSchema.parse({ routes: routes.map((r) => ({ upstream: UP, allow: [{ authenticated: true }], ...r })) });
  return compileRoutes([{ file: 't.yaml', policy, routeLines: routes.map((_r, i) => i + 1) }]);
}

function route(allow: unknown[], deny: unknown[] = []): CompiledRoute {
  return compile({ name: 'r', allow, deny })[0]!;
}

function who(groups: string[], email = 'u@example.com', connection = 'okta'): Identity {
  return { user: email, email, groups, connection };
}

const req = (method: string, path: string, clientIp = '10.1.2.3'): RequestFacts => ({ method, path, clientIp });

function pick(table: RouteTable, host: string, path: string, method = 'GET'): string | undefined {
  const hit = table.match(host, path, method);
  if (!hit) return undefined;
  return 'route' in hit ? hit.route.name : `405 ${hit.methodNotAllowed.join(',')}`;
}

describe('path patterns', () => {
  const cases: Array<[string, string, boolean, boolean?]> = [
    // [pattern, path, matches, exact?]
    ['/api', '/api', true],
    ['/api', '/api/x/y', true],
    ['/api', '/apix', false],
    ['/api/', '/api', true],
    ['/v1/models/*:predict', '/v1/models/resnet:predict', true],
    ['/v1/models/*:predict', '/v1/models/a/versions/2:predict', false],
    ['/v1/models/*:predict', '/v1/models/resnet:predict/x', false],
    ['/v1/models/*:predict', '/v1/models/resnet:classify', false],
    ['/v1/models/**:predict', '/v1/models/a/versions/2:predict', true],
    ['/v1/models/**', '/v1/models/', true],
    ['/v1/models/**', '/v1/models', false],
    ['/a/*/c', '/a/c', false],
    ['/a/*/c', '/a/b/c', true],
    ['/a/*/c', '/A/b/c', false],
    ['/a/*x*/c', '/a/yxz/c', true],
    ['/a/*x*/c', '/a/y/x/c', false],
    ['/a/**/c/*', '/a/1/2/c/d', true],
    ['/a/**/c/*', '/a/1/2/c/d/e', false],
    ['/healthz', '/healthz', true, true],
    ['/healthz', '/healthz/', true, true],
    ['/healthz', '/healthz//', false, true],
    ['/healthz', '/healthz/x', false, true],
  ];
  for (const [pattern, path, expected, exact] of cases) {
    it(`${exact ? 'exact ' : ''}${pattern} ${expected ? 'covers' : 'does not cover'} ${path}`, () => assert.equal(compilePathPattern(pattern, exact).test(path), expected));
  }

  it('ReDoS: a many-wildcard glob against a long hostile path answers in linear time', () => {
    const p = compilePathPattern('/**a**a**a**a**a**b');
    const hostile = `/${'a'.repeat(30_000)}`;
    const t0 = process.hrtime.bigint();
    assert.equal(p.test(hostile), false);
    // A backtracking regex takes minutes here; the NFA takes milliseconds. Generous bound for a shared machine.
    assert.ok(Number(process.hrtime.bigint() - t0) / 1e6 < 2000);
  });
});

describe('hosts and the most specific route', () => {
  const table = new RouteTable(compile(
    { name: 'any', path: '/' },
    { name: 'wild', host: '*.ml.example.com' },
    { name: 'wild-8443', host: '*.ml.example.com:8443' },
    { name: 'exact', host: 'tf.ml.example.com' },
    { name: 'glob', host: 'tf.ml.example.com', path: '/v1/models/*:predict' },
    { name: 'glob-any', host: 'tf.ml.example.com', path: '/v1/models/**' },
    { name: 'prefix-models', host: 'tf.ml.example.com', path: '/v1/models' },
    { name: 'exact-path', host: 'tf.ml.example.com', path_exact: '/v1/models/special:predict' },
    { name: 'deep', host: 'tf.ml.example.com', path: '/v1/models/x/versions' },
    { name: 'api-get', host: 'api.example.com', path: '/api', methods: ['GET'] },
    { name: 'api-post', host: 'api.example.com', path: '/api', methods: ['POST', 'PUT'] },
    { name: 'jobs', host: 'api.example.com', path: '/jobs', methods: ['GET'] },
  ));
  const cases: Array<[string, string, string, string, string | undefined]> = [
    ['a wildcard covers one label', 'a.ml.example.com', '/x', 'GET', 'wild'],
    ['a wildcard never covers two labels', 'a.b.ml.example.com', '/x', 'GET', 'any'],
    ['a wildcard never covers the bare parent', 'ml.example.com', '/x', 'GET', 'any'],
    ['a look-alike suffix is another domain', 'evilml.example.com', '/x', 'GET', 'any'],
    ['a wildcard with the port is more specific', 'a.ml.example.com:8443', '/x', 'GET', 'wild-8443'],
    ['an exact host beats a wildcard', 'tf.ml.example.com', '/x', 'GET', 'exact'],
    ['an exact path beats a glob at the same depth', 'tf.ml.example.com', '/v1/models/special:predict', 'POST', 'exact-path'],
    ['a glob beats a prefix at the same depth; the glob with more literal characters first', 'tf.ml.example.com', '/v1/models/resnet:predict', 'POST', 'glob'],
    ['a broader glob at the same depth beats the prefix', 'tf.ml.example.com', '/v1/models/resnet', 'GET', 'glob-any'],
    ['the prefix takes what no glob covers', 'tf.ml.example.com', '/v1/models', 'GET', 'prefix-models'],
    ['a deeper literal prefix beats a shallower glob', 'tf.ml.example.com', '/v1/models/x/versions/2', 'GET', 'deep'],
    ['methods pick between routes on one path', 'api.example.com', '/api/x', 'POST', 'api-post'],
    ['GET implies HEAD', 'api.example.com', '/api/x', 'HEAD', 'api-get'],
    ['a method no route of the host takes falls through to the any-host route', 'api.example.com', '/api/x', 'DELETE', 'any'],
  ];
  for (const [why, host, path, method, expected] of cases) {
    it(`${why}: ${method} ${host}${path} -> ${expected}`, () => assert.equal(pick(table, host, path, method), expected));
  }

  it('405 with every method the matching routes take when no route takes the method', () => {
    const t = new RouteTable(compile({ name: 'g', host: 'h.example.com', path: '/api', methods: ['GET'] }, { name: 'p', path: '/api', methods: ['POST', 'PUT'] }));
    assert.equal(pick(t, 'h.example.com', '/api/x', 'DELETE'), '405 GET,HEAD,POST,PUT');
    assert.equal(pick(t, 'h.example.com', '/other', 'DELETE'), undefined);
  });

  it('a method miss on a specific host is served by an any-host route when one covers it', () => {
    const t = new RouteTable(compile({ name: 'h', host: 'h.example.com', methods: ['GET'] }, { name: 'fallback' }));
    assert.equal(pick(t, 'h.example.com', '/x', 'POST'), 'fallback');
  });

  it('the choice does not depend on declaration order', () => {
    const routes = compile(
      { name: 'p', path: '/v1/models' },
      { name: 'g', path: '/v1/models/*:predict' },
      { name: 'e', path_exact: '/v1/models/m:predict' },
    );
    for (const order of [routes, [...routes].reverse()]) {
      const t = new RouteTable(order);
      assert.deepEqual(['/v1/models/m:predict', '/v1/models/n:predict', '/v1/models/n'].map((p) => pick(t, 'h', p)), ['e', 'g', 'p']);
    }
  });
});

describe('rules: and / or / not, groups any / all, methods, paths, source_ip', () => {
  const DS = who(['data-scientists']);
  const ML = who(['ml-engineers']);
  const ADMIN = who(['admins', 'ml-engineers']);
  const CONTRACTOR = who(['ml-engineers', 'contractors']);
  const databricks = route(
    [{ groups: ['data-scientists'], methods: ['GET'] }, { groups: ['ml-engineers'] }],
    [{ methods: ['POST'], paths: ['/api/2.0/clusters/delete', '/api/2.0/clusters/permanent-delete'], not: { groups: ['admins'] } }],
  );
  const cases: Array<[string, CompiledRoute, Identity | undefined, RequestFacts, boolean, string | undefined, string[]]> = [
    ['data scientists read', databricks, DS, req('GET', '/api/2.0/jobs/list'), true, 'allow[0]', ['method-ok', 'groups-ok']],
    ['data scientists cannot write', databricks, DS, req('POST', '/api/2.0/jobs/create'), false, undefined, ['method-unauthorized', 'groups-unauthorized']],
    ['ml-engineers write', databricks, ML, req('POST', '/api/2.0/jobs/create'), true, 'allow[1]', ['groups-ok']],
    ['cluster delete by a non-admin is denied', databricks, ML, req('POST', '/api/2.0/clusters/delete'), false, 'deny[0]', ['denied-by-rule', 'method-ok', 'path-ok', 'not-groups-unauthorized']],
    ['cluster delete below the path is denied too (prefix)', databricks, ML, req('POST', '/api/2.0/clusters/delete/'), false, 'deny[0]', ['denied-by-rule', 'method-ok', 'path-ok', 'not-groups-unauthorized']],
    ['admins delete clusters', databricks, ADMIN, req('POST', '/api/2.0/clusters/delete'), true, 'allow[1]', ['groups-ok']],
    ['anonymous cluster delete asks for sign-in, not a 403 (not is unknown)', databricks, undefined, req('POST', '/api/2.0/clusters/delete'), false, undefined, ['user-unauthenticated']],
    ['all-of needs every group', route([{ groups: { all: ['ml-engineers', 'admins'] } }]), ML, req('GET', '/'), false, undefined, ['groups-unauthorized']],
    ['all-of with every group', route([{ groups: { all: ['ml-engineers', 'admins'] } }]), ADMIN, req('GET', '/'), true, 'allow[0]', ['groups-ok']],
    ['any-of object form', route([{ groups: { any: ['x', 'admins'] } }]), ADMIN, req('GET', '/'), true, 'allow[0]', ['groups-ok']],
    ['or: either branch', route([{ or: [{ groups: ['x'] }, { emails: ['u@example.com'] }] }]), DS, req('GET', '/'), true, 'allow[0]', ['email-ok']],
    ['or: neither branch reports both misses', route([{ or: [{ groups: ['x'] }, { emails: ['y@example.com'] }] }]), DS, req('GET', '/'), false, undefined, ['groups-unauthorized', 'email-unauthorized']],
    ['and with not: contractors excluded', route([{ and: [{ groups: ['ml-engineers'] }, { not: { groups: ['contractors'] } }] }]), CONTRACTOR, req('GET', '/'), false, undefined, ['not-groups-ok']],
    ['and with not: others pass', route([{ and: [{ groups: ['ml-engineers'] }, { not: { groups: ['contractors'] } }] }]), ML, req('GET', '/'), true, 'allow[0]', ['groups-ok', 'not-groups-unauthorized']],
    ['source_ip inside the CIDR', route([{ authenticated: true, source_ip: ['10.0.0.0/8'] }]), DS, req('GET', '/'), true, 'allow[0]', ['source-ip-ok', 'authenticated']],
    ['source_ip outside the CIDR', route([{ authenticated: true, source_ip: ['10.0.0.0/8'] }]), DS, req('GET', '/', '192.168.1.1'), false, undefined, ['source-ip-unauthorized']],
    ['source_ip with an IPv4-mapped peer address', route([{ authenticated: true, source_ip: ['10.0.0.0/8'] }]), DS, req('GET', '/', '::ffff:10.9.9.9'), true, 'allow[0]', ['source-ip-ok', 'authenticated']],
    ['source_ip fails closed on an unknown client address', route([{ authenticated: true, source_ip: ['0.0.0.0/0'] }]), DS, req('GET', '/', ''), false, undefined, ['client-address-unknown']],
    ['public from the office only: outside gets 403, not a sign-in loop', route([{ public: true, source_ip: ['10.0.0.0/8'] }]), undefined, req('GET', '/', '8.8.8.8'), false, undefined, ['source-ip-unauthorized']],
    ['public from the office', route([{ public: true, source_ip: ['10.0.0.0/8'] }]), undefined, req('GET', '/'), true, 'allow[0]', ['source-ip-ok', 'public']],
    ['a request-only deny refuses anonymous requests on a public route', route([{ public: true }], [{ paths: ['/admin'] }]), undefined, req('GET', '/admin/x'), false, 'deny[0]', ['denied-by-rule', 'path-ok']],
    ['identity deny sidestepped by staying anonymous: a public route asks for sign-in while the deny could hold', route([{ public: true }], [{ groups: ['contractors'] }]), undefined, req('GET', '/'), false, undefined, ['user-unauthenticated']],
    ['identity deny sidestepped by staying anonymous: only admins delete, even on a public route', route([{ public: true }], [{ methods: ['POST'], paths: ['/admin/delete'], not: { groups: ['admins'] } }]), undefined, req('POST', '/admin/delete'), false, undefined, ['user-unauthenticated']],
    ['a request-scoped identity deny leaves the rest of a public route public', route([{ public: true }], [{ methods: ['POST'], paths: ['/admin/delete'], not: { groups: ['admins'] } }]), undefined, req('GET', '/docs'), true, 'allow[0]', ['public']],
    ['identity deny sidestepped by staying anonymous: an office-network allow still asks for sign-in', route([{ source_ip: ['10.0.0.0/8'] }], [{ not: { groups: ['hr'] } }]), undefined, req('GET', '/'), false, undefined, ['user-unauthenticated']],
    ['unknown client address on a route with source_ip rules: refused whatever the rules say', route([{ authenticated: true }], [{ source_ip: ['203.0.113.0/24'] }]), DS, req('GET', '/', ''), false, undefined, ['client-address-unknown']],
    ['paths in an allow rule: outside the listed paths is refused', route([{ authenticated: true, paths: ['/api/2.0/jobs'] }]), DS, req('GET', '/api/2.0/jobsx'), false, undefined, ['path-unauthorized']],
    ['a glob in paths', route([{ groups: ['ml-engineers'], paths: ['/v1/models/*:predict'] }]), ML, req('POST', '/v1/models/m:predict'), true, 'allow[0]', ['path-ok', 'groups-ok']],
    ['methods: HEAD rides on GET', route([{ authenticated: true, methods: ['GET'] }]), DS, req('HEAD', '/'), true, 'allow[0]', ['method-ok', 'authenticated']],
    ['methods: OPTIONS is not GET', route([{ authenticated: true, methods: ['GET'] }]), DS, req('OPTIONS', '/'), false, undefined, ['method-unauthorized']],
  ];
  for (const [why, r, id, facts, allow, rule, reasons] of cases) {
    it(why, () => {
      const d = evaluate(r, id, facts);
      assert.deepEqual({ allow: d.allow, rule: d.rule, reasons: d.reasons }, { allow, rule, reasons });
    });
  }
});

describe('granting groups on the deny page', () => {
  const r = route([{ groups: ['ml-engineers', 'data-scientists'], methods: ['GET'] }, { groups: ['admins'] }], [{ groups: ['contractors'] }]);
  it('lists each group that alone would admit the request', () => {
    assert.deepEqual(grantingGroups(r, who(['interns']), req('GET', '/')), ['ml-engineers', 'data-scientists', 'admins']);
    assert.deepEqual(grantingGroups(r, who(['interns']), req('POST', '/')), ['admins']);
  });
  it('suggests nothing a deny rule would still refuse (a contractor is told no group)', () => {
    assert.deepEqual(grantingGroups(r, who(['contractors']), req('GET', '/')), []);
  });
});

describe('schema: rules that cannot mean what they say are config errors', () => {
  it('ReDoS: a long path segment followed by a refused character is rejected at once (was exponential)', () => {
    const t0 = Date.now();
    const parsed = policyFileSchema.safeParse({ routes: [{ name: 'r', upstream: UP, allow: [{ authenticated: true }], path: `/v1/models/${'sentiment-distilbert-v2'.repeat(3)}:predict?version=2` }] });
    assert.equal(parsed.success, false);
    assert.ok(Date.now() - t0 < 1000, 'answered without backtracking');
  });

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['public in a deny list', { deny: [{ public: true }] }, /public/],
    ['public nested in a deny rule', { deny: [{ or: [{ public: true }, { groups: ['x'] }] }] }, /public/],
    ['public under not', { allow: [{ not: { public: true } }] }, /public/],
    ['public with identity criteria', { allow: [{ public: true, groups: ['x'] }] }, /public/],
    ['an empty nested rule', { allow: [{ and: [{}] }] }, /empty rule/],
    ['an unknown key in a nested rule', { allow: [{ not: { group: ['x'] } }] }, /Unrecognized key/i],
    ['groups with both any and all', { allow: [{ groups: { any: ['a'], all: ['b'] } }] }, /group/],
    ['a bad CIDR', { allow: [{ authenticated: true, source_ip: ['10.0.0.0/33'] }] }, /not an IP address or CIDR/],
    ['a lower-case method', { methods: ['get'] }, /upper case/],
    ['path and path_exact together', { path: '/a', path_exact: '/a' }, /not both/],
    ['a glob in path_exact', { path_exact: '/a/*' }, /not allowed/],
    ['a lower-case percent-encoding (requests are normalized to upper case)', { path: '/a%2fb' }, /upper-case/],
    ['a wildcard inside a host', { host: 'a.*.example.com' }, /host/],
    ['forward_groups with an unknown word', { forward_groups: 'some' }, /mentioned/],
    ['a client header as an identity header name (it would be stripped from every route)', { headers: { user: 'Authorization' } }, /clients send themselves/],
  ];
  for (const [why, extra, message] of bad) {
    it(why, () => {
      const parsed = policyFileSchema.safeParse({ routes: [{ name: 'r', upstream: UP, allow: [{ authenticated: true }], ...extra }] });
      assert.equal(parsed.success, false);
      assert.match(JSON.stringify(parsed.error?.issues), message);
    });
  }

  it('two routes on the same host, path and an overlapping method are refused; disjoint methods are fine', () => {
    const problems: ConfigProblem[] = [];
    const raw = (routes: unknown[]) => [{ file: 'p.yaml', routes, routeLines: routes.map((_r, i) => i + 1) }];
    checkPolicySemantics(raw([{ name: 'a', path: '/api', methods: ['GET'] }, { name: 'b', path: '/api/', methods: ['POST'] }]), new Set(), problems);
    assert.deepEqual(problems, []);
    const overlapping: ConfigProblem[] = [];
    checkPolicySemantics(raw([{ name: 'a', path: '/api', methods: ['GET'] }, { name: 'b', path: '/api', methods: ['HEAD'] }]), new Set(), overlapping);
    assert.equal(overlapping.length, 1);
    assert.match(overlapping[0]!.message, /could never match/);
    const split: ConfigProblem[] = [];
    checkPolicySemantics(raw([{ name: 'a', path: '/api', methods: ['GET'] }, { name: 'b', path: '/api' }]), new Set(), split);
    assert.deepEqual(split, [], 'a route naming methods beside one that does not is a split: both are reachable');
    const twice: ConfigProblem[] = [];
    checkPolicySemantics(raw([{ name: 'a', path: '/api' }, { name: 'b', path: '/api' }]), new Set(), twice);
    assert.equal(twice.length, 1);
  });

  it('connections named deep inside and/or/not are checked against the config', () => {
    const problems: ConfigProblem[] = [];
    checkPolicySemantics([{ file: 'p.yaml', routes: [{ name: 'a', allow: [{ or: [{ not: { connections: ['nope'] } }] }] }], routeLines: [3] }], new Set(['okta']), problems);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /no connection "nope"/);
  });
});

describe('client address for source_ip', () => {
  const trusted = buildTrustList(['10.0.0.0/8']).list;
  const cases: Array<[string, string, string | undefined, boolean, string]> = [
    ['the peer when no proxy is trusted', '10.0.0.1', '1.2.3.4', false, '10.0.0.1'],
    ['X-Forwarded-For spoofing: an untrusted peer cannot claim an address', '8.8.8.8', '10.0.0.5', true, '8.8.8.8'],
    ['the address the trusted proxy saw', '10.0.0.1', '203.0.113.9', true, '203.0.113.9'],
    ['client-written entries left of the proxy prove nothing', '10.0.0.1', '10.9.9.9, 203.0.113.9', true, '203.0.113.9'],
    ['a chain of trusted proxies is skipped', '10.0.0.1', '203.0.113.9, 10.0.0.2', true, '203.0.113.9'],
    ['a malformed hop fails closed', '10.0.0.1', 'bogus', true, ''],
    ['an ip:port hop (some load balancers) is the ip', '10.0.0.1', '203.0.113.5:1234', true, '203.0.113.5'],
    ['a [v6]:port hop is the v6 address', '10.0.0.1', '[2001:db8::7]:443', true, '2001:db8::7'],
    ['no header: the proxy itself', '10.0.0.1', undefined, true, '10.0.0.1'],
  ];
  for (const [why, peer, xff, any, expected] of cases) {
    it(why, () => assert.equal(clientAddress(peer, xff, trusted, any), expected));
  }
});

describe('shadowed routes (reported by check)', () => {
  const shadows = (...routes: Array<Record<string, unknown>>) => findShadows(compile(...routes)).map((s) => `${s.route.name}<${s.by.name}${s.full ? ' full' : ''}`);
  it('a glob at the same depth that takes the paths below a prefix is reported', () => {
    assert.deepEqual(shadows({ name: 'models', path: '/v1/models/x' }, { name: 'all', path: '/v1/models/x/**' }, { name: 'x', path: '/v1/models/x*' }), ['models<all']);
  });
  it('a route none of whose sample requests reach it is reported as fully shadowed', () => {
    assert.deepEqual(shadows({ name: 'a', path: '/jobs/**' }, { name: 'b', path: '/jobs/**/**' }), ['a<b full']);
  });
  it('`/api/*` is tried before `/api/**`: neither shadows the other', () => {
    assert.deepEqual(shadows({ name: 'a', path: '/api/*', methods: ['GET'] }, { name: 'b', path: '/api/**', methods: ['GET'] }), []);
    const t = new RouteTable(compile({ name: 'b', path: '/api/**' }, { name: 'a', path: '/api/*' }));
    assert.deepEqual([pick(t, 'h', '/api/x'), pick(t, 'h', '/api/x/y')], ['a', 'b']);
  });
  it('carving a deeper path out of a broader route is intended, not reported', () => {
    assert.deepEqual(shadows({ name: 'root', path: '/' }, { name: 'health', path: '/api/health' }, { name: 'pred', path: '/v1/models/*:predict' }), []);
  });
});
