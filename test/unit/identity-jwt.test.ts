/**
 * The identity JWT signer and its keys: claims (groups minimized as for the groups header),
 * `exp` = `iat` + ttl, `kid` = RFC 7638 thumbprint, a cache that reuses a token only during the
 * first half of its life (never an expired one), key files checked, and the config rules
 * (ttl bounds, at most three keys, a Redis store needs keys). Tokens are verified with `jose`.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { runCheck } from '../../proxy/cli/check.js';
import { ManualClock } from '../../proxy/clock.js';
import { generateJwtKey, readJwtKey, type JwtKey } from '../../proxy/config/jwt-keys.js';
import { loadConfig } from '../../proxy/config/load.js';
import { ConfigError } from '../../proxy/config/problems.js';
import { IdentityJwt } from '../../proxy/forward/identity-jwt.js';
import type { Identity } from '../../proxy/policy/types.js';
import { buildIdentityJwt } from '../../proxy/server/policy-state.js';
import { compileRoutes } from '../../proxy/policy/compile.js';
import { configProblems } from '../helpers/config-problems.js';

const SECRET = 'test-only-4f9c1e7a2b8d6350a1c9e2f7b4d8a6c3';
const ISSUER = 'https://gatehouse.example.com';
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const alice: Identity = { user: 'alice', email: 'alice@example.com', groups: ['ml-engineers', 'staff', 'hr'], connection: 'lab' };
const route = { name: 'models', forwardGroups: new Set(['ml-engineers', 'admins']) as ReadonlySet<string> };

function signer(clock: ManualClock, key: JwtKey = generateJwtKey(), ttlMs = 60_000): IdentityJwt {
  return new IdentityJwt({ keys: [key], ttlMs, issuer: ISSUER, clock, ephemeral: false });
}

async function verify(token: string, key: JwtKey, at: number, audience = route.name) {
  return jwtVerify(token, await importJWK(key.jwk, 'ES256'), { issuer: ISSUER, audience, algorithms: ['ES256'], currentDate: new Date(at) });
}

describe('identity JWT claims', () => {
  test('iss, aud = route, sub, email, minimized groups, connection, iat = nbf, exp = iat + ttl, jti; ES256 with the thumbprint kid', async () => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1, 12, 0, 0, 700));
    const key = generateJwtKey();
    const token = signer(clock, key).assertion(alice, route);
    const { payload, protectedHeader } = await verify(token, key, clock.now());
    const iat = Math.floor(clock.now() / 1000);
    assert.deepEqual({ ...payload, jti: undefined }, { iss: ISSUER, aud: 'models', sub: 'alice', email: 'alice@example.com', groups: ['ml-engineers'], connection: 'lab', iat, nbf: iat, exp: iat + 60, jti: undefined });
    assert.match(String(payload.jti), /^[0-9a-f-]{36}$/);
    assert.deepEqual(protectedHeader, { alg: 'ES256', kid: key.kid, typ: 'JWT' });
  });

  test('groups follow forward_groups: all, none (no claim), and never a group outside the set', async () => {
    const clock = new ManualClock();
    const key = generateJwtKey();
    const s = signer(clock, key);
    const all = await verify(s.assertion(alice, { name: 'all', forwardGroups: 'all' }), key, clock.now(), 'all');
    assert.deepEqual(all.payload.groups, ['ml-engineers', 'staff', 'hr']);
    const none = await verify(s.assertion(alice, { name: 'none', forwardGroups: 'none' }), key, clock.now(), 'none');
    assert.equal('groups' in none.payload, false);
    const noEmail = await verify(s.assertion({ user: 'svc', groups: [], connection: 'service-account' }, route), key, clock.now());
    assert.equal('email' in noEmail.payload, false);
    assert.deepEqual(noEmail.payload.groups, []);
  });

  test('names with any characters survive as JSON (no header encoding inside the JWT)', async () => {
    const clock = new ManualClock();
    const key = generateJwtKey();
    const odd: Identity = { user: 'zoë, "admin"', groups: ['ML Engineers, EU', 'x'], connection: 'lab' };
    const { payload } = await verify(signer(clock, key).assertion(odd, { name: 'r', forwardGroups: 'all' }), key, clock.now(), 'r');
    assert.equal(payload.sub, 'zoë, "admin"');
    assert.deepEqual(payload.groups, ['ML Engineers, EU', 'x']);
  });

  test('kid is the RFC 7638 thumbprint of the public key (as jose computes it)', async () => {
    const key = generateJwtKey();
    assert.equal(key.kid, await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: key.jwk.x, y: key.jwk.y }, 'sha256'));
    assert.equal(decodeProtectedHeader(signer(new ManualClock(), key).assertion(alice, route)).kid, key.kid);
  });

  test('the JWKS publishes every key, signing key first, public halves only', () => {
    const [a, b] = [generateJwtKey(), generateJwtKey()];
    const s = new IdentityJwt({ keys: [a, b], ttlMs: 60_000, issuer: ISSUER, clock: new ManualClock(), ephemeral: false });
    assert.deepEqual(s.jwks.keys.map((k) => k.kid), [a.kid, b.kid]);
    for (const k of s.jwks.keys) assert.deepEqual(Object.keys(k).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    assert.equal(decodeProtectedHeader(s.assertion(alice, route)).kid, a.kid);
  });

  test('token replay to another route: the audience differs, so an upstream expecting another route refuses it', async () => {
    const clock = new ManualClock();
    const key = generateJwtKey();
    const token = signer(clock, key).assertion(alice, route);
    await assert.rejects(verify(token, key, clock.now(), 'billing'), /aud/);
  });
});

describe('identity JWT cache', () => {
  test('reused for the same identity and route during the first half of the ttl, then signed again', () => {
    const clock = new ManualClock();
    const s = signer(clock);
    const first = s.assertion(alice, route);
    clock.advance(29_000);
    assert.equal(s.assertion(alice, route), first);
    assert.notEqual(s.assertion(alice, { ...route, name: 'other' }), first, 'per route');
    assert.equal(s.assertion({ ...alice }, route), first, 'the same person read again (a new object from Redis)');
    assert.notEqual(s.assertion({ ...alice, groups: ['ml-engineers', 'staff'] }, route), first, 'other claims, other token');
    assert.notEqual(s.assertion({ ...alice, user: 'alice2' }, route), first);
    clock.advance(1_000);
    assert.notEqual(s.assertion(alice, route), first);
  });

  test('bounded: past 10 000 people x routes the oldest entry is dropped first', () => {
    const s = signer(new ManualClock());
    const first = s.assertion(alice, route);
    for (let i = 0; i < 9_999; i++) s.assertion({ user: `u${i}`, groups: [], connection: 'lab' }, route);
    assert.equal(s.assertion(alice, route), first, 'still cached at 10 000 entries');
    s.assertion({ user: 'one-more', groups: [], connection: 'lab' }, route);
    assert.notEqual(s.assertion(alice, route), first, 'evicted once the cap was passed');
  });

  test('expired token replay: the cache never serves a token past (or near) its exp, whatever the clock does', async () => {
    const key = generateJwtKey();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 10, max: 600 }), fc.array(fc.integer({ min: -5_000, max: 400_000 }), { minLength: 1, maxLength: 12 }), async (ttlSec, steps) => {
        const clock = new ManualClock(Date.UTC(2026, 0, 1) + 123);
        const s = signer(clock, key, ttlSec * 1000);
        for (const step of steps) {
          clock.advance(step);
          const { payload } = await verify(s.assertion(alice, route), key, clock.now());
          // At least half the lifetime left, and valid now (nbf <= now).
          assert.ok(payload.exp! * 1000 - clock.now() > (ttlSec * 1000) / 2, `exp ${payload.exp} now ${clock.now()}`);
          assert.ok(payload.nbf! * 1000 <= clock.now());
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('identity JWT keys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-jwt-'));
  dirs.push(dir);
  const pem = (k: ReturnType<typeof generateKeyPairSync>['privateKey'], type: 'pkcs8' | 'sec1') => k.export({ format: 'pem', type }) as string;
  writeFileSync(join(dir, 'p256.pem'), pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'pkcs8'));
  writeFileSync(join(dir, 'p256-sec1.pem'), pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'sec1'));
  writeFileSync(join(dir, 'p384.pem'), pem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey, 'pkcs8'));
  writeFileSync(join(dir, 'rsa.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  writeFileSync(join(dir, 'junk.pem'), '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LW1hdGVyaWFs\n-----END PRIVATE KEY-----\n');

  test('P-256 keys in PKCS#8 and SEC1 PEM are read (control)', () => {
    for (const f of ['p256.pem', 'p256-sec1.pem']) assert.equal(typeof readJwtKey(f, dir), 'object', f);
  });

  test('algorithm confusion: only EC P-256 signs ES256; other curves, RSA, junk and missing files are refused without quoting the file', () => {
    assert.match(readJwtKey('p384.pem', dir) as string, /secp384r1.*P-256/);
    assert.match(readJwtKey('rsa.pem', dir) as string, /rsa key; ES256 needs an EC P-256 key/);
    const junk = readJwtKey('junk.pem', dir) as string;
    assert.match(junk, /not an unencrypted PEM private key/);
    assert.ok(!junk.includes('c2VjcmV0'), 'key material is not echoed');
    assert.match(readJwtKey('missing.pem', dir) as string, /cannot read missing.pem: ENOENT/);
  });
});

describe('identity_jwt config', () => {
  function write(identityJwt: string | undefined, route = '', store = 'memory'): string {
    const d = mkdtempSync(join(tmpdir(), 'gatehouse-jwt-cfg-'));
    dirs.push(d);
    mkdirSync(join(d, 'policies'));
    writeFileSync(join(d, 'good.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    writeFileSync(join(d, 'rsa.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    writeFileSync(join(d, 'policies', 'r.yaml'), `routes:\n  - name: app\n    path: /\n    upstream: "http://127.0.0.1:9"\n    allow: [ { authenticated: true } ]\n${route}`);
    writeFileSync(
      join(d, 'gatehouse.yaml'),
      `server:\n  public_url: http://127.0.0.1:4180\nsession:\n  secret: \${SECRET}\n  store: ${store}\nsaml:\n  connections:\n    - id: lab\n      idp_metadata_url: https://idp.example.com/metadata\npolicies: ["policies/*.yaml"]\n${identityJwt === undefined ? '' : `identity_jwt: ${identityJwt}\n`}`,
    );
    return join(d, 'gatehouse.yaml');
  }
  const build = (file: string) => {
    const loaded = loadConfig(file, { SECRET });
    return buildIdentityJwt(loaded, compileRoutes(loaded.policies), new ManualClock());
  };

  test('defaults: ttl 60s, no keys; a route opts in with identity_jwt: true (control)', () => {
    assert.deepEqual(configProblems(write('{ signing_keys: [good.pem], ttl: 2m }', '    identity_jwt: true\n'), { SECRET }), []);
    const loaded = loadConfig(write('{}'), { SECRET });
    assert.deepEqual(loaded.config.identity_jwt, { signing_keys: [], ttl: 60_000 });
    assert.equal(compileRoutes(loaded.policies)[0]!.identityJwt, false);
  });

  for (const [name, yaml, message] of [
    ['a ttl over 10 minutes', '{ ttl: 11m }', /10s to 10m/],
    ['a ttl under 10 seconds', '{ ttl: 5s }', /10s to 10m/],
    ['a ttl in fractions of a second', '{ ttl: 1500ms }', /whole seconds/],
    ['more than three keys', '{ signing_keys: [a, b, c, d] }', /at most three/],
    ['an unknown key', '{ signing_key: a.pem }', /unrecognized|unknown/i],
  ] as const) {
    test(`refused: ${name}`, () => {
      const found = configProblems(write(yaml), { SECRET });
      assert.ok(found.some((p) => p.key.startsWith('identity_jwt') && message.test(p.message)), JSON.stringify(found));
    });
  }

  test('a claim or identity header posing as the JWT header is refused (one header, one meaning)', () => {
    for (const route of ['    forward_claims: { department: X_Gatehouse_Jwt_Assertion }\n', '    headers: { user: x-gatehouse-jwt-assertion }\n']) {
      const found = configProblems(write(undefined, route), { SECRET });
      assert.ok(found.some((p) => /X-Gatehouse-Jwt-Assertion/.test(p.message)), JSON.stringify(found));
    }
  });

  test('the commented identity_jwt block of config.example.yaml loads once uncommented, with a real key file', () => {
    const root = (p: string) => new URL(`../../${p}`, import.meta.url).pathname;
    const lines = readFileSync(root('config.example.yaml'), 'utf8').split('\n');
    const from = lines.indexOf('# identity_jwt:');
    assert.ok(from > 0, 'the example shows identity_jwt');
    for (let i = from; lines[i]?.startsWith('#'); i++) lines[i] = lines[i]!.slice(2);
    const d = mkdtempSync(join(tmpdir(), 'gatehouse-jwt-example-'));
    dirs.push(d);
    writeFileSync(join(d, 'jwt.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    const text = lines.join('\n').replace('/run/secrets/gatehouse-jwt.pem', join(d, 'jwt.pem')).replace('"policies/*.yaml"', JSON.stringify(root('policies/*.yaml')));
    writeFileSync(join(d, 'gatehouse.yaml'), text);
    const loaded = loadConfig(join(d, 'gatehouse.yaml'), { GATEHOUSE_SESSION_SECRET: 'x9Kq2v7Lm4Rt8Wz1Yb5Nc3Hd6Jf0Gs2Pq' });
    assert.deepEqual(loaded.config.identity_jwt, { signing_keys: [join(d, 'jwt.pem')], ttl: 60_000 });
    const jwt = buildIdentityJwt(loaded, compileRoutes(loaded.policies), new ManualClock())!;
    assert.equal(jwt.ephemeral, false);
    assert.equal(jwt.jwks.keys.length, 1);
  });

  test('no identity_jwt and no route asking for it: no signer, nothing generated', () => {
    assert.equal(build(write(undefined)), undefined);
  });

  test('memory store without signing_keys: one ephemeral key, kept across reloads', () => {
    const file = write(undefined, '    identity_jwt: true\n');
    const first = build(file)!;
    assert.equal(first.ephemeral, true);
    const loaded = loadConfig(file, { SECRET });
    const again = buildIdentityJwt(loaded, compileRoutes(loaded.policies), new ManualClock(), first)!;
    assert.equal(again.keys[0], first.keys[0]);
  });

  test('instances signing with different keys: a Redis store without signing_keys is an error at the route and the section', () => {
    const err = (() => {
      try {
        build(write('{ ttl: 30s }', '    identity_jwt: true\n', 'redis://127.0.0.1:6379'));
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.problems.map((p) => p.key), ['identity_jwt.signing_keys', 'route app.identity_jwt']);
    assert.match(err.problems[1]!.message, /each would sign with its own ephemeral key/);
    assert.match(err.problems[1]!.file, /r\.yaml$/);
    assert.equal(build(write('{ signing_keys: [good.pem] }', '    identity_jwt: true\n', 'redis://127.0.0.1:6379'))!.ephemeral, false, 'with keys: fine');
  });

  test('gatehouse check reports a bad key file and a key listed twice, at the key', async () => {
    let err = '';
    const sink = (w: (s: string) => void) => new Writable({ write: (c: Buffer, _e, cb) => { w(c.toString()); cb(); } });
    const prior = process.env.SECRET;
    process.env.SECRET = SECRET;
    try {
      const code = await runCheck(write('{ signing_keys: [good.pem, rsa.pem, good.pem] }'), sink(() => {}), sink((s) => (err += s)), { offline: true });
      assert.equal(code, 1, err);
      assert.match(err, /:\d+ identity_jwt\.signing_keys\[1\]: rsa\.pem is a rsa key/);
      assert.match(err, /identity_jwt\.signing_keys\[2\]: the same key is listed twice/);
    } finally {
      if (prior === undefined) delete process.env.SECRET;
      else process.env.SECRET = prior;
    }
  });
});
