/** Session sealing: nothing useful at rest, nothing that opens elsewhere or under another secret. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newToken, parseToken, SessionKeys } from '../../proxy/session/session-keys.js';
import type { Session } from '../../proxy/session/types.js';

const SESSION: Session = {
  identity: { user: 'alice@example.com', email: 'alice@example.com', groups: ['ml-engineers', 'Ünïcode'], connection: 'okta' },
  createdAt: 1,
  lastSeenAt: 2,
  expiresAt: 3,
  saml: { nameId: 'alice@example.com', sessionIndex: '_idx' },
};
const keys = new SessionKeys(['test-only-seal-secret-0123456789abcdef0123']);
const other = new SessionKeys(['test-only-other-secret-0123456789abcdef012']);

describe('sealed sessions', () => {
  test('round trip with the cookie key and the id', () => {
    const t = newToken();
    assert.deepEqual(keys.open(keys.seal(SESSION, t), t), SESSION);
    assert.deepEqual(parseToken(t.token), { id: t.id, key: t.key });
  });

  test('a store dump reveals no identity: no name, email or group in the sealed value', () => {
    const sealed = keys.seal(SESSION, newToken());
    const decoded = Buffer.from(sealed.slice(3), 'base64url').toString('latin1');
    for (const secret of ['alice', 'ml-engineers', 'okta', '_idx']) assert.ok(!sealed.includes(secret) && !decoded.includes(secret), secret);
  });

  test('the same session sealed twice differs (fresh IV): no equality oracle across sessions', () => {
    const t = newToken();
    assert.notEqual(keys.seal(SESSION, t), keys.seal(SESSION, t));
  });

  test('another key, another id or another secret does not open it', () => {
    const t = newToken();
    const sealed = keys.seal(SESSION, t);
    assert.equal(keys.open(sealed, { id: t.id, key: newToken().key }), undefined, 'wrong key');
    assert.equal(keys.open(sealed, { id: newToken().id, key: t.key }), undefined, 'moved to another id');
    assert.equal(other.open(sealed, t), undefined, 'sealed under another secret (store write forgery)');
  });

  test('tampering with any byte is detected', () => {
    const t = newToken();
    const sealed = keys.seal(SESSION, t);
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    for (const i of [0, 12, raw.length - 1]) {
      const bad = Buffer.from(raw);
      bad[i]! ^= 1;
      assert.equal(keys.open(`v1.${bad.toString('base64url')}`, t), undefined, `byte ${i}`);
    }
    assert.equal(keys.open(`v2.${sealed.slice(3)}`, t), undefined, 'unknown version');
    assert.equal(keys.open('v1.', t), undefined, 'empty');
  });

  test('the admin summary opens with the secret alone, and under no other secret', () => {
    const meta = { user: 'alice', email: 'alice@example.com', connection: 'okta', createdAt: 1, lastSeenAt: 2, expiresAt: 3 };
    const sealed = keys.sealMeta(meta, 'id-1');
    assert.ok(!sealed.includes('alice'));
    assert.deepEqual(keys.openMeta(sealed, 'id-1'), meta);
    assert.equal(keys.openMeta(sealed, 'id-2'), undefined);
    assert.equal(other.openMeta(sealed, 'id-1'), undefined);
  });

  test('user index keys hide the email, ignore case, and are given for every secret being rotated', () => {
    const both = new SessionKeys(['test-only-seal-secret-0123456789abcdef0123', 'test-only-other-secret-0123456789abcdef012']);
    const [k] = keys.userKeys('Alice@Example.com');
    assert.ok(k && !k.includes('alice'));
    assert.deepEqual(keys.userKeys('alice@example.com'), [k]);
    assert.deepEqual(both.userKeys('alice@example.com'), [k, other.userKeys('alice@example.com')[0]]);
  });
});
