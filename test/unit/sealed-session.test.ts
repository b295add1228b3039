/** Sessions sealed for a shared store: nothing useful at rest, nothing that opens elsewhere. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { openSealedSession, sealSession } from '../../proxy/session/sealed-session.js';
import type { Session } from '../../proxy/session/types.js';

const SESSION: Session = {
  identity: { user: 'alice@example.com', email: 'alice@example.com', groups: ['ml-engineers', 'Ünïcode'], connection: 'okta' },
  createdAt: 1,
  lastSeenAt: 2,
  expiresAt: 3,
  saml: { nameId: 'alice@example.com', sessionIndex: '_idx' },
};
const token = () => randomBytes(32).toString('base64url');

describe('sealed sessions', () => {
  test('round trip with the cookie token and the store key', () => {
    const t = token();
    assert.deepEqual(openSealedSession(sealSession(SESSION, t, 'k1'), t, 'k1'), SESSION);
  });

  test('a store dump reveals no identity: no name, email or group in the sealed value', () => {
    const sealed = sealSession(SESSION, token(), 'k1');
    const decoded = Buffer.from(sealed.slice(3), 'base64url').toString('latin1');
    for (const secret of ['alice', 'ml-engineers', 'okta', '_idx']) assert.ok(!sealed.includes(secret) && !decoded.includes(secret), secret);
  });

  test('the same session sealed twice differs (fresh IV): no equality oracle across sessions', () => {
    const t = token();
    assert.notEqual(sealSession(SESSION, t, 'k1'), sealSession(SESSION, t, 'k1'));
  });

  test('a dump without the cookie grants nothing: another token does not open it', () => {
    assert.equal(openSealedSession(sealSession(SESSION, token(), 'k1'), token(), 'k1'), undefined);
  });

  test('a sealed value copied under another user\'s key does not open (store key is bound)', () => {
    const t = token();
    assert.equal(openSealedSession(sealSession(SESSION, t, 'k1'), t, 'k2'), undefined);
  });

  test('tampering with any byte is detected', () => {
    const t = token();
    const sealed = sealSession(SESSION, t, 'k1');
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    for (const at of [0, 12, raw.length >> 1, raw.length - 1]) {
      const bad = Buffer.from(raw);
      bad[at]! ^= 1;
      assert.equal(openSealedSession(`v1.${bad.toString('base64url')}`, t, 'k1'), undefined, `byte ${at}`);
    }
    assert.equal(openSealedSession('v2.' + sealed.slice(3), t, 'k1'), undefined, 'unknown version');
    assert.equal(openSealedSession('v1.AAAA', t, 'k1'), undefined, 'truncated');
  });
});
