/**
 * Header hygiene: what the client sends is stripped first (hop-by-hop, Connection-listed,
 * identity and forwarding headers in every spelling, our cookies), then Gatehouse adds its own.
 * An upstream that trusts `X-Forwarded-User` is only safe if no client copy ever reaches it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { buildStripSet, cleanRequestHeaders, cleanResponseHeaders, dropCookies } from '../../proxy/forward/header-hygiene.js';
import { upstreamHeaders, upstreamPath, type ClientFacts } from '../../proxy/forward/upstream-headers.js';
import { compileRoutes, type CompiledRoute } from '../../proxy/policy/compile.js';
import { policyFileSchema } from '../../proxy/config/policy-schema.js';
import type { Identity } from '../../proxy/policy/types.js';
import { buildTrustList } from '../../proxy/server/trusted-proxies.js';

const COOKIES = ['gatehouse_session', 'gatehouse_login'];
/** As build-context builds it: the default identity header names plus a route's custom ones. */
const STRIP = buildStripSet(
  ['X-Forwarded-User', 'X-Forwarded-Email', 'X-Forwarded-Groups', 'X-Forwarded-Preferred-Username', 'X-Auth-Request-User', 'Remote-User'],
  COOKIES,
);

/** Lowercased names of a flat [name, value, ...] list. */
function names(flat: readonly string[]): string[] {
  return flat.filter((_v, i) => i % 2 === 0).map((n) => n.toLowerCase());
}

/** Every value of one header (case-insensitive) in a flat list. */
function values(flat: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.toLowerCase() === name.toLowerCase()) out.push(flat[i + 1]!);
  return out;
}

const BASE = ['Accept', 'text/html', 'User-Agent', 'test'];

describe('cleanRequestHeaders: hop-by-hop headers are not forwarded', () => {
  const hopByHop: Array<[string, string]> = [
    ['Connection', 'keep-alive'],
    ['Keep-Alive', 'timeout=5'],
    ['Proxy-Connection', 'keep-alive'],
    ['TE', 'trailers'],
    ['Trailer', 'X-Checksum'],
    ['Transfer-Encoding', 'chunked'],
    ['Upgrade', 'websocket'],
    ['Proxy-Authorization', 'Basic Zm9vOmJhcg=='],
    ['Expect', '100-continue'],
    ['Host', 'evil.example'],
    ['host', 'evil.example'],
    ['TRANSFER-ENCODING', 'chunked'],
  ];
  for (const [name, value] of hopByHop) {
    it(`drops ${name} (request smuggling / credential leak to upstream)`, () => {
      const out = cleanRequestHeaders([...BASE, name, value], STRIP);
      assert.deepEqual(out, BASE);
    });
  }

  it('drops headers named in Connection (Connection: close, X-Secret)', () => {
    const out = cleanRequestHeaders([...BASE, 'Connection', 'close, X-Secret', 'X-Secret', 's3cr3t', 'X-Other', 'kept'], STRIP);
    assert.deepEqual(out, [...BASE, 'X-Other', 'kept']);
  });

  it('drops every header named in several Connection headers, whatever their case', () => {
    const raw = [...BASE, 'connection', 'x-a', 'CONNECTION', ' X-B ,x-c', 'X-A', '1', 'x-b', '2', 'X-C', '3', 'X-D', '4'];
    assert.deepEqual(cleanRequestHeaders(raw, STRIP), [...BASE, 'X-D', '4']);
  });

  it('keepUpgrade keeps only Upgrade for websocket handshakes: the client Connection (which may name our headers) and any body framing go', () => {
    const raw = [...BASE, 'Connection', 'Upgrade, X-Forwarded-User', 'Upgrade', 'websocket', 'X-Secret', 's', 'Transfer-Encoding', 'chunked', 'Content-Length', '7'];
    const kept = cleanRequestHeaders(raw, STRIP, true);
    assert.deepEqual(kept.filter((_v, i) => i % 2 === 0).map((n) => n.toLowerCase()).filter((n) => ['connection', 'transfer-encoding', 'content-length'].includes(n)), []);
    assert.deepEqual(values(kept, 'upgrade'), ['websocket']);
    assert.deepEqual(values(kept, 'x-forwarded-user'), []);
    assert.deepEqual(cleanRequestHeaders(raw, STRIP, false).filter((_v, i) => i % 2 === 0).map((n) => n.toLowerCase()).includes('upgrade'), false);
  });

  it('an upstream handshake gets our own Connection: Upgrade, exactly once', () => {
    const raw = ['Connection', 'Upgrade, X-Forwarded-User', 'Upgrade', 'websocket'];
    assert.deepEqual(values(upstreamHeaders({ req: fakeRequest(raw, '203.0.113.9'), route: ROUTE, identity: undefined, strip: STRIP, client: FACTS, upgrade: true }), 'connection'), ['Upgrade']);
  });
});

describe('cleanRequestHeaders: spoofed identity headers are removed in every spelling', () => {
  const spoofs: Array<[string, string[]]> = [
    ['canonical case', ['X-Forwarded-User', 'admin']],
    ['lower case', ['x-forwarded-user', 'admin']],
    ['upper case', ['X-FORWARDED-USER', 'admin']],
    ['underscores for dashes (oauth2-proxy underscore smuggling)', ['X_Forwarded_User', 'admin']],
    ['one underscore', ['x-forwarded_email', 'admin@example.com']],
    ['groups with underscores', ['X_FORWARDED_GROUPS', 'admins']],
    ['preferred username', ['X-Forwarded-Preferred-Username', 'admin']],
    ['duplicates', ['X-Forwarded-User', 'a', 'x-forwarded-user', 'b', 'X_Forwarded_User', 'c']],
    ['custom route header', ['X-Auth-Request-User', 'admin']],
    ['custom route header with underscores', ['Remote_User', 'admin']],
    ['custom route header lower case', ['remote-user', 'admin']],
  ];
  for (const [spelling, headers] of spoofs) {
    it(`strips a client-sent identity header: ${spelling}`, () => {
      assert.deepEqual(cleanRequestHeaders([...BASE, ...headers], STRIP), BASE);
    });
  }

  const forwarding: Array<[string, string]> = [
    ['X-Forwarded-For', '10.0.0.1'],
    ['X-Forwarded-Proto', 'https'],
    ['X-Forwarded-Host', 'admin.internal'],
    ['X-Forwarded-Port', '443'],
    ['X-Forwarded-Prefix', '/admin'],
    ['Forwarded', 'for=10.0.0.1;proto=https'],
    ['X-Real-IP', '10.0.0.1'],
    ['X-Original-URL', '/admin'],
    ['X-Rewrite-URL', '/admin'],
    ['X-Forwarded-Uri', '/admin'],
    ['x_forwarded_for', '10.0.0.1'],
    ['X_Real_Ip', '10.0.0.1'],
  ];
  for (const [name, value] of forwarding) {
    it(`strips client-sent forwarding header ${name} (IP allow-list / path spoofing upstream)`, () => {
      assert.deepEqual(cleanRequestHeaders([...BASE, name, value], STRIP), BASE);
    });
  }

  it('keeps ordinary headers, in order, with their original case and duplicates', () => {
    const raw = ['Accept', 'a', 'X-Custom', '1', 'x-custom', '2', 'Authorization', 'Bearer t', 'X-Forwarded-Userx', 'kept'];
    assert.deepEqual(cleanRequestHeaders(raw, STRIP), raw);
  });
});

describe('cleanRequestHeaders and dropCookies: our cookies never reach the upstream', () => {
  const cases: Array<[string, string, string]> = [
    ['ours in the middle', 'a=1; gatehouse_session=x; b=2', 'a=1; b=2'],
    ['ours first', 'gatehouse_session=x; a=1', 'a=1'],
    ['ours last, no spaces', 'a=1;gatehouse_login=n', 'a=1'],
    ['both of ours', 'gatehouse_login=n; a=1; gatehouse_session=x', 'a=1'],
    ['duplicates of ours', 'gatehouse_session=x; gatehouse_session=y; a=1', 'a=1'],
    ['space before =', 'gatehouse_session =x; a=1', 'a=1'],
    ['similar names are not ours', 'xgatehouse_session=1; gatehouse_session_x=2', 'xgatehouse_session=1; gatehouse_session_x=2'],
    ['our name as a value is not ours', 'a=gatehouse_session', 'a=gatehouse_session'],
    ['none of ours: untouched', 'a=1;b=2', 'a=1;b=2'],
    ['only ours', 'gatehouse_session=x', ''],
    ['only ours, both', 'gatehouse_session=x; gatehouse_login=y', ''],
  ];
  for (const [name, header, expected] of cases) {
    it(`dropCookies: ${name}: "${header}" -> "${expected}"`, () => {
      assert.equal(dropCookies(header, COOKIES), expected);
    });
  }

  it('removes our cookies from the Cookie header and keeps the others (session theft by upstream)', () => {
    const out = cleanRequestHeaders([...BASE, 'Cookie', 'a=1; gatehouse_session=x; b=2'], STRIP);
    assert.deepEqual(out, [...BASE, 'Cookie', 'a=1; b=2']);
  });

  it('drops the Cookie header when only our cookies were in it', () => {
    const out = cleanRequestHeaders([...BASE, 'Cookie', 'gatehouse_session=x'], STRIP);
    assert.deepEqual(out, BASE);
  });

  it('cleans every Cookie header when the client sends several', () => {
    const out = cleanRequestHeaders([...BASE, 'Cookie', 'gatehouse_session=x', 'cookie', 'a=1; gatehouse_login=y'], STRIP);
    assert.deepEqual(out, [...BASE, 'cookie', 'a=1']);
  });
});

describe('cleanResponseHeaders', () => {
  it('drops hop-by-hop and Connection-listed response headers, keeps the rest (Buffers read as latin1)', () => {
    const raw = ['Content-Type', 'text/plain', 'Connection', 'close, X-Internal', 'X-Internal', 'x', 'Transfer-Encoding', 'chunked', 'Keep-Alive', 'timeout=5', Buffer.from('Set-Cookie'), Buffer.from('a=1')];
    assert.deepEqual(cleanResponseHeaders(raw), ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1']);
  });

  it('challenge impersonation: an upstream challenge naming realm="gatehouse" is dropped (a CLI would take it for Gatehouse refusing its token, or follow its login_url); the upstream\'s own challenges pass', () => {
    const fakes = ['Bearer realm="gatehouse", error="invalid_token"', 'Bearer realm="Gatehouse", login_url="https://evil.example/login"', 'Basic REALM = gatehouse', 'Bearer error="invalid_token", realm="gatehouse"'];
    for (const fake of fakes) {
      assert.deepEqual(cleanResponseHeaders(['WWW-Authenticate', fake, 'Content-Type', 'application/json']), ['Content-Type', 'application/json'], fake);
    }
    const own = ['WWW-Authenticate', 'Bearer realm="mlflow", error="invalid_token"', 'www-authenticate', 'Basic realm="gatehouse-lab"', 'WWW-Authenticate', 'Negotiate'];
    assert.deepEqual(cleanResponseHeaders(own), own);
  });
});

/** Compiles one route from a policy-file shaped object, through the real schema (defaults). */
function routeFrom(route: Record<string, unknown>): CompiledRoute {
  const policy = policyFileSchema.parse({ routes: [route] });
  const [compiled] = compileRoutes([{ file: 'test.yaml', policy, routeLines: [1] }]);
  assert.ok(compiled);
  return compiled;
}

/** The parts of IncomingMessage upstreamHeaders reads. */
function fakeRequest(rawHeaders: string[], remoteAddress: string): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const k = rawHeaders[i]!.toLowerCase();
    headers[k] = headers[k] === undefined ? rawHeaders[i + 1]! : `${headers[k]}, ${rawHeaders[i + 1]!}`;
  }
  return { rawHeaders, headers, socket: { remoteAddress } } as unknown as IncomingMessage;
}

const ROUTE = routeFrom({ name: 'nb', host: 'nb.example.com', upstream: 'http://10.1.2.3:8888/', allow: [{ authenticated: true }], forward_groups: 'all' });
const CUSTOM = routeFrom({
  name: 'custom', upstream: 'http://10.1.2.4:9000/base/', allow: [{ authenticated: true }], preserve_host: true,
  headers: { user: 'X-Auth-Request-User', email: 'X-Auth-Request-Email', groups: 'X-Auth-Request-Groups' },
});
const TRUSTED = buildTrustList(['10.0.0.0/8', '::1']).list;
const FACTS: ClientFacts = { host: 'nb.example.com', requestId: 'req-1', proto: 'https', trustedProxies: TRUSTED, anyTrustedProxy: true };
const ALICE: Identity = { user: 'alice', email: 'alice@example.com', groups: ['ml-engineers', 'a,b'], connection: 'lab' };
const SPOOFED = [
  'X-Forwarded-User', 'mallory', 'x_forwarded_user', 'mallory', 'X-Forwarded-Email', 'root@example.com',
  'X-Forwarded-Groups', 'admins', 'X-Forwarded-For', '6.6.6.6', 'X-Forwarded-Proto', 'gopher',
  'X-Forwarded-Host', 'evil.example', 'Forwarded', 'for=6.6.6.6', 'X-Real-IP', '6.6.6.6',
];

describe('upstreamHeaders', () => {
  it('replaces spoofed identity and forwarding headers with ours, each exactly once (identity spoofing)', () => {
    const req = fakeRequest(['Host', 'nb.example.com', 'Accept', '*/*', ...SPOOFED], '203.0.113.9');
    const h = upstreamHeaders({ req, route: ROUTE, identity: ALICE, strip: STRIP, client: FACTS });
    const expected: Array<[string, string]> = [
      ['host', '10.1.2.3:8888'],
      ['x-forwarded-for', '203.0.113.9'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'nb.example.com'],
      ['x-request-id', 'req-1'],
      ['x-forwarded-user', 'alice'],
      ['x-forwarded-email', 'alice@example.com'],
      ['x-forwarded-groups', 'ml-engineers,a%2Cb'],
    ];
    for (const [name, value] of expected) assert.deepEqual(values(h, name), [value], name);
    for (const gone of ['forwarded', 'x-real-ip', 'x_forwarded_user']) assert.ok(!names(h).includes(gone), gone);
    assert.deepEqual(values(h, 'accept'), ['*/*']);
  });

  it('replaces a client-sent X-Request-Id with ours (forged log correlation upstream)', () => {
    const req = fakeRequest(['Host', 'nb.example.com', 'X-Request-Id', 'forged', 'x_request_id', 'forged'], '203.0.113.9');
    const h = upstreamHeaders({ req, route: ROUTE, identity: ALICE, strip: STRIP, client: FACTS });
    assert.deepEqual(values(h, 'x-request-id'), ['req-1']);
    assert.deepEqual(values(h, 'x_request_id'), []);
  });

  it('forward_claims: a claim named like an Object.prototype member reads no inherited value (no crash, no header)', () => {
    const route = { ...ROUTE, forwardClaims: [['constructor', 'X-Claim-Constructor'], ['department', 'X-Dept']] as const };
    const req = fakeRequest(['Host', 'nb.example.com'], '203.0.113.9');
    const h = upstreamHeaders({ req, route, identity: { ...ALICE, claims: { department: ['ML'] } }, strip: STRIP, client: FACTS });
    assert.deepEqual(values(h, 'x-claim-constructor'), []);
    assert.deepEqual(values(h, 'x-dept'), ['ML']);
    assert.deepEqual(values(upstreamHeaders({ req, route, identity: ALICE, strip: STRIP, client: FACTS }), 'x-claim-constructor'), [], 'no claims at all');
  });

  it('sends no identity headers without an identity, even when the client sent some', () => {
    const req = fakeRequest(['Host', 'nb.example.com', ...SPOOFED], '203.0.113.9');
    const h = upstreamHeaders({ req, route: ROUTE, identity: undefined, strip: STRIP, client: FACTS });
    for (const name of ['x-forwarded-user', 'x-forwarded-email', 'x-forwarded-groups']) assert.deepEqual(values(h, name), [], name);
    assert.deepEqual(values(h, 'x-forwarded-for'), ['203.0.113.9']);
  });

  it('omits the email header when the identity has no email, still sending an empty groups header', () => {
    const req = fakeRequest(['Host', 'nb.example.com', 'X-Forwarded-Email', 'root@example.com'], '203.0.113.9');
    const h = upstreamHeaders({ req, route: ROUTE, identity: { user: 'carol', groups: [], connection: 'lab' }, strip: STRIP, client: FACTS });
    assert.deepEqual(values(h, 'x-forwarded-user'), ['carol']);
    assert.deepEqual(values(h, 'x-forwarded-email'), []);
    assert.deepEqual(values(h, 'x-forwarded-groups'), ['']);
  });

  it('X-Forwarded-For is the peer only when the peer is untrusted (client IP spoofing)', () => {
    const req = fakeRequest(['X-Forwarded-For', '1.2.3.4', 'X-Forwarded-Proto', 'http'], '203.0.113.9');
    const h = upstreamHeaders({ req, route: ROUTE, identity: undefined, strip: STRIP, client: FACTS });
    assert.deepEqual(values(h, 'x-forwarded-for'), ['203.0.113.9']);
    assert.deepEqual(values(h, 'x-forwarded-proto'), ['https']);
  });

  const trustedPeers: Array<[string, string]> = [
    ['IPv4 in a trusted CIDR', '10.9.8.7'],
    ['IPv4-mapped IPv6 in a trusted CIDR', '::ffff:10.9.8.7'],
    ['trusted IPv6 address', '::1'],
  ];
  for (const [name, peer] of trustedPeers) {
    it(`X-Forwarded-For is "client, peer" when the peer is a trusted proxy: ${name}`, () => {
      const req = fakeRequest(['X-Forwarded-For', '198.51.100.7', 'X-Forwarded-Proto', 'http'], peer);
      const h = upstreamHeaders({ req, route: ROUTE, identity: undefined, strip: STRIP, client: FACTS });
      assert.deepEqual(values(h, 'x-forwarded-for'), [`198.51.100.7, ${peer}`]);
      assert.deepEqual(values(h, 'x-forwarded-proto'), ['http']);
    });
  }

  it('a trusted proxy that sends no X-Forwarded-For gives just the peer', () => {
    const h = upstreamHeaders({ req: fakeRequest([], '10.0.0.1'), route: ROUTE, identity: undefined, strip: STRIP, client: FACTS });
    assert.deepEqual(values(h, 'x-forwarded-for'), ['10.0.0.1']);
    assert.deepEqual(values(h, 'x-forwarded-proto'), ['https']);
  });

  it('an empty trust list trusts nobody', () => {
    const facts = { ...FACTS, trustedProxies: buildTrustList([]).list };
    const h = upstreamHeaders({ req: fakeRequest(['X-Forwarded-For', '1.2.3.4'], '10.0.0.1'), route: ROUTE, identity: undefined, strip: STRIP, client: facts });
    assert.deepEqual(values(h, 'x-forwarded-for'), ['10.0.0.1']);
  });

  it('uses the route header names and preserve_host', () => {
    const req = fakeRequest(['Host', 'nb.example.com', 'X-Auth-Request-User', 'mallory', 'Remote_User', 'mallory'], '203.0.113.9');
    const h = upstreamHeaders({ req, route: CUSTOM, identity: ALICE, strip: STRIP, client: FACTS });
    assert.deepEqual(values(h, 'host'), ['nb.example.com']);
    assert.deepEqual(values(h, 'x-auth-request-user'), ['alice']);
    assert.deepEqual(values(h, 'x-auth-request-email'), ['alice@example.com']);
    assert.deepEqual(values(h, 'x-forwarded-user'), []);
    assert.deepEqual(values(h, 'remote_user'), []);
  });

  it('keeps Upgrade and Connection only for upgrades', () => {
    const raw = ['Connection', 'Upgrade', 'Upgrade', 'websocket'];
    assert.deepEqual(values(upstreamHeaders({ req: fakeRequest(raw, '203.0.113.9'), route: ROUTE, identity: undefined, strip: STRIP, client: FACTS, upgrade: true }), 'upgrade'), ['websocket']);
    assert.deepEqual(values(upstreamHeaders({ req: fakeRequest(raw, '203.0.113.9'), route: ROUTE, identity: undefined, strip: STRIP, client: FACTS }), 'upgrade'), []);
  });
});

describe('upstreamPath', () => {
  const cases: Array<[string, CompiledRoute, string, string, string]> = [
    ['root upstream', ROUTE, '/a/b', '?x=1', '/a/b?x=1'],
    ['upstream base path', CUSTOM, '/a/b', '', '/base/a/b'],
    ['upstream base path, root request', CUSTOM, '/', '?q', '/base/?q'],
  ];
  for (const [name, route, path, query, expected] of cases) {
    it(`${name}: ${path}${query} -> ${expected}`, () => assert.equal(upstreamPath(route, path, query), expected));
  }
});
