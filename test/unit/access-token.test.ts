/**
 * The token formats of CLI logins (docs/cli-tokens.md): sealed `gta_` access tokens, `gtr_`
 * refresh tokens, one-time codes with PKCE S256, loopback-only redirect URIs, the bearer
 * recognised as ours, and header hygiene that never forwards one of our tokens.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { configSchema } from '../../proxy/config/schema.js';
import { cleanRequestHeaders, buildStripSet } from '../../proxy/forward/header-hygiene.js';
import { newToken } from '../../proxy/session/session-keys.js';
import { MemoryStateStore } from '../../proxy/store/state-store.js';
import { AccessTokens } from '../../proxy/tokens/access-token.js';
import { checkRedirectUri, issueCode, redeemCode, validChallenge, verifierMatches } from '../../proxy/tokens/cli-codes.js';
import { presentedToken } from '../../proxy/tokens/bearer.js';
import { carriesGatehouseToken, innerToken, withPrefix } from '../../proxy/tokens/prefixes.js';

const SECRET = 'unit-secret-0123456789abcdef0123456789abcdef';
const OLD = 'unit-old-secret-0123456789abcdef0123456789ab';
const clock = { now: () => Date.now() };

describe('access tokens (gta_)', () => {
  const tokens = new AccessTokens([SECRET]);
  const parts = newToken();

  test('seal and open round-trip the CLI session and times', () => {
    const t = tokens.seal(parts, 1000, 2000);
    assert.match(t, /^gta_v1\.[A-Za-z0-9_-]+$/);
    assert.deepEqual(tokens.open(t), { v: 1, sid: parts.id, key: parts.key, iat: 1000, exp: 2000 });
    assert.ok(!t.includes(parts.key), 'the session key is sealed, not readable');
  });

  test('forged access token: one changed character, a truncation, another prefix or another secret opens nothing', () => {
    const t = tokens.seal(parts, 1, 2);
    for (let i = 8; i < t.length; i += 7) {
      const c = t[i] === 'A' ? 'B' : 'A';
      assert.equal(tokens.open(t.slice(0, i) + c + t.slice(i + 1)), undefined, `changed at ${i}`);
    }
    assert.equal(tokens.open(t.slice(0, -1)), undefined);
    assert.equal(tokens.open(`gts_${t.slice(4)}`), undefined);
    assert.equal(tokens.open(t.slice(4)), undefined);
    assert.equal(new AccessTokens(['another-secret-0123456789abcdef0123456789']).open(t), undefined);
    assert.equal(tokens.open(`gta_${'A'.repeat(2000)}`), undefined);
  });

  test('rotation: a token sealed under a secret being rotated out still opens; new ones use the first', () => {
    const old = new AccessTokens([OLD]).seal(parts, 1, 2);
    const rotated = new AccessTokens([SECRET, OLD]);
    assert.equal(rotated.open(old)?.sid, parts.id);
    assert.equal(new AccessTokens([OLD]).open(rotated.seal(parts, 1, 2)), undefined);
  });

  test('opened tokens are remembered by their exact text, bounded, oldest first out; one that did not open is never remembered (cache filled by garbage)', () => {
    const small = new AccessTokens([SECRET], 2);
    const [a, b, c] = [1, 2, 3].map((i) => small.seal(parts, i, i + 1)) as [string, string, string];
    const first = small.open(a);
    assert.ok(first && Object.isFrozen(first), 'claims handed out from memory cannot be changed by a caller');
    assert.equal(small.open(a), first, 'a repeat is answered from memory (the same claims object)');
    small.open(b);
    small.open(c);
    const again = small.open(a);
    assert.deepEqual(again, first);
    assert.notEqual(again, first, 'the oldest entry made room: opened afresh');
    const forged = a.slice(0, -2) + (a.endsWith('AA') ? 'BB' : 'AA');
    assert.equal(small.open(forged), undefined);
    assert.equal(small.open(forged), undefined, 'still nothing the second time');
    for (const variant of [`${a}=`, `${a.slice(0, 12)}!${a.slice(12)}`, `${a.slice(0, 12)}\n${a.slice(12)}`, ...(a.includes('_') ? [a.replace('_', '/')] : []), ...(a.includes('-') ? [a.replace('-', '+')] : [])]) {
      assert.equal(small.open(variant), undefined, `one spelling per token (base64url decoding would skip ${JSON.stringify(variant.slice(12, 13))})`);
    }
    const none = new AccessTokens([SECRET], 0);
    assert.notEqual(none.open(a), none.open(a), 'a size of 0 remembers nothing');
  });

  test('open returns the expiry for the caller to check against its clock (expired access token: see cli-tokens.test.ts)', () => {
    const t = tokens.seal(parts, 1, 5);
    assert.equal(tokens.open(t)?.exp, 5);
  });
});

describe('refresh tokens (gtr_) and service tokens (gts_)', () => {
  test('wrap a CLI session token and parse back; anything else is not one', () => {
    const p = newToken();
    const r = withPrefix('refresh', p.token);
    assert.equal(r, `gtr_${p.token}`);
    assert.deepEqual(innerToken('refresh', r), { id: p.id, key: p.key, token: p.token });
    for (const bad of [p.token, `gta_${p.token}`, `gts_${p.token}`, 'gtr_', `gtr_${p.token}x`, `gtr_${p.id}`]) assert.equal(innerToken('refresh', bad), undefined, bad);
  });

  test('a service token is read only as one: the prefix names the kind', () => {
    const p = newToken();
    const s = withPrefix('service', p.token);
    assert.equal(s, `gts_${p.token}`);
    assert.deepEqual(innerToken('service', s), { id: p.id, key: p.key, token: p.token });
    assert.equal(innerToken('refresh', s), undefined);
    assert.equal(innerToken('service', withPrefix('refresh', p.token)), undefined);
  });
});

describe('authorization codes', () => {
  const { verifier, challenge } = (() => {
    const v = 'v'.repeat(20) + 'A1-._~'.repeat(5);
    return { verifier: v, challenge: createHash('sha256').update(v).digest('base64url') };
  })();

  test('redirect_uri: loopback with an explicit port, or oob; nothing else (token theft via open redirect_uri)', () => {
    assert.deepEqual(checkRedirectUri('http://127.0.0.1:8765/callback'), { kind: 'loopback', port: 8765 });
    assert.deepEqual(checkRedirectUri('http://[::1]:1/'), { kind: 'loopback', port: 1 });
    assert.deepEqual(checkRedirectUri('http://localhost:65535'), { kind: 'loopback', port: 65535 });
    assert.deepEqual(checkRedirectUri('urn:ietf:wg:oauth:2.0:oob'), { kind: 'oob' });
    for (const bad of [
      'https://127.0.0.1:1/', 'http://127.0.0.1/', 'http://127.0.0.1:0/', 'http://127.0.0.1:65536/', 'http://127.0.0.2:80/',
      'http://127.0.0.1:80/x?y=1', 'http://127.0.0.1:80/#x', 'http://127.0.0.1:80@evil.example/', 'http://evil.example:80/',
      'http://127.0.0.1.evil.example:80/', 'http://LOCALHOST:80/', 'http://0x7f000001:80/', 'http://127.0.0.1:80/%zz', 'urn:ietf:wg:oauth:2.0:oob:auto', '', undefined, null,
    ]) assert.equal(checkRedirectUri(bad), undefined, String(bad));
  });

  test('PKCE S256: the verifier must hash to the challenge (PKCE verifier mismatch)', () => {
    assert.ok(validChallenge(challenge));
    assert.ok(!validChallenge('short') && !validChallenge(null));
    assert.ok(verifierMatches(verifier, challenge));
    assert.ok(!verifierMatches(`${verifier}x`, challenge));
    assert.ok(!verifierMatches(challenge, challenge), 'plain (verifier = challenge) is not accepted');
    assert.ok(!verifierMatches('short', createHash('sha256').update('short').digest('base64url')), 'RFC 7636: at least 43 characters');
    assert.ok(!verifierMatches(null, challenge));
  });

  test('authorization code replay: a code is taken out on first redemption; the store holds neither code nor session token', async () => {
    const store = new MemoryStateStore(clock);
    const seen: string[] = [];
    const spy = { ...store, put: async (k: string, v: string, t: number) => (seen.push(k, v), store.put(k, v, t)), take: (k: string) => store.take(k) } as unknown as MemoryStateStore;
    const pending = { challenge, redirectUri: 'http://127.0.0.1:5000/cb', browser: newToken().token };
    const code = await issueCode(spy, pending, false);
    assert.match(code, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(!seen.join(' ').includes(code) && !seen.join(' ').includes(pending.browser), 'a store dump yields no code and no session');
    assert.deepEqual(await redeemCode(spy, code), pending);
    assert.equal(await redeemCode(spy, code), undefined);
    await store.close();
  });

  test('typed (oob) codes: grouped, any case, dashes or spaces optional; once only', async () => {
    const store = new MemoryStateStore(clock);
    const pending = { challenge, redirectUri: 'urn:ietf:wg:oauth:2.0:oob', browser: newToken().token };
    const code = await issueCode(store, pending, true);
    assert.match(code, /^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/);
    assert.deepEqual(await redeemCode(store, code.toLowerCase().replaceAll('-', ' ')), pending);
    assert.equal(await redeemCode(store, code), undefined);
    assert.equal(await redeemCode(store, 'x'.repeat(5000)), undefined);
    await store.close();
  });
});

describe('bearer recognition and hygiene', () => {

  test('ours: any Proxy-Authorization Bearer, an Authorization Bearer with our prefix; others pass', () => {
    assert.equal(presentedToken(['Authorization', 'Bearer gta_abc']), 'gta_abc');
    assert.equal(presentedToken(['authorization', 'bearer  gts_x.y']), 'gts_x.y');
    assert.equal(presentedToken(['Proxy-Authorization', 'Bearer anything']), 'anything');
    assert.equal(presentedToken(['Authorization', 'Bearer upstream-token']), undefined);
    assert.equal(presentedToken(['Authorization', 'Basic Z2hhXzp4']), undefined);
    assert.equal(presentedToken(['Proxy-Authorization', 'Basic eDp5']), undefined);
    assert.equal(presentedToken([]), undefined);
    assert.equal(presentedToken(['Authorization', 'Bearer gta_a', 'Proxy-Authorization', 'Bearer gta_a']), 'gta_a');
    assert.deepEqual(presentedToken(['Authorization', 'Bearer upstream', 'Authorization', 'Bearer gta_a', 'Proxy-Authorization', 'Bearer gta_b']), { reason: 'several-tokens' });
  });

  test('never forwarded: Authorization with our token dropped (every copy), Proxy-Authorization always; a foreign Authorization kept', () => {
    const strip = buildStripSet([], ['gatehouse_session']);
    const out = cleanRequestHeaders(['Authorization', 'Bearer gta_x', 'authorization', 'Bearer upstream', 'AUTHORIZATION', 'bearer gtr_y', 'Proxy-Authorization', 'Bearer gta_x', 'Proxy_Authorization', 'Bearer gta_x', 'X-A', '1'], strip);
    assert.deepEqual(out, ['authorization', 'Bearer upstream', 'X-A', '1']);
    assert.ok(carriesGatehouseToken('Bearer gts_a.b') && !carriesGatehouseToken('Basic gta_') && !carriesGatehouseToken('Bearer x'));
  });
});

describe('config tokens.access_ttl and cli_idle_timeout', () => {
  const ttl = (v?: string) => configSchema.shape.tokens.safeParse(v === undefined ? undefined : { access_ttl: v });
  const EIGHT_HOURS = 8 * 3_600_000;
  test('defaults to 15m; 1m..1h accepted; longer or shorter refused', () => {
    assert.deepEqual(ttl().data, { access_ttl: 900_000, cli_idle_timeout: EIGHT_HOURS });
    assert.deepEqual(ttl('1h').data, { access_ttl: 3_600_000, cli_idle_timeout: EIGHT_HOURS });
    assert.deepEqual(ttl('1m').data, { access_ttl: 60_000, cli_idle_timeout: EIGHT_HOURS });
    assert.equal(ttl('61m').success, false);
    assert.equal(ttl('30s').success, false);
    assert.equal(configSchema.shape.tokens.safeParse({ access_ttl: '5m', refresh_ttl: '1d' }).success, false, 'unknown keys are errors');
  });

  test('cli_idle_timeout: 1m..30d', () => {
    const idle = (v: string) => configSchema.shape.tokens.safeParse({ cli_idle_timeout: v });
    assert.equal(idle('1d').data?.cli_idle_timeout, 86_400_000);
    assert.equal(idle('30s').success, false);
    assert.equal(idle('31d').success, false);
  });
});
