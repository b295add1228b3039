import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { clearCookie, cookiePolicy, loginCookie, sessionCookie } from '../../proxy/server/cookies.js';

const base = { name: 'gatehouse_session', sessionMaxAgeMs: 3_600_000, loginMaxAgeMs: 600_000 };

describe('cookie policy', () => {
  test('https: __Host- session and login cookies, Secure, Path=/, no Domain', () => {
    const p = cookiePolicy({ ...base, publicUrl: 'https://gh.example.com' });
    const c = sessionCookie(p, 'tok');
    assert.match(c, /^__Host-gatehouse_session=tok;/);
    assert.match(c, /Secure/);
    assert.match(c, /HttpOnly/);
    assert.match(c, /SameSite=Lax/);
    assert.doesNotMatch(c, /Domain/i);
    assert.match(loginCookie(p, 'n'), /^__Host-gatehouse_login=n;.*SameSite=None/);
  });

  test('cookie tossing from a sibling host: with a shared domain the login cookie stays __Host-', () => {
    const p = cookiePolicy({ ...base, publicUrl: 'https://gh.ml.example.com', domain: '.ml.example.com' });
    assert.match(sessionCookie(p, 't'), /^__Secure-gatehouse_session=t;.*Domain=\.ml\.example\.com/i);
    assert.match(loginCookie(p, 'n'), /^__Host-gatehouse_login=n;/);
    assert.doesNotMatch(loginCookie(p, 'n'), /Domain/i);
  });

  test('plain http (loopback trials): no prefix, no Secure, login cookie Lax', () => {
    const p = cookiePolicy({ ...base, publicUrl: 'http://127.0.0.1:4180' });
    assert.match(sessionCookie(p, 't'), /^gatehouse_session=t;/);
    assert.doesNotMatch(sessionCookie(p, 't'), /Secure/);
    assert.match(loginCookie(p, 'n'), /SameSite=Lax/);
    assert.match(clearCookie(p, p.session), /Max-Age=0/);
  });
});
