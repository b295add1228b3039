/**
 * The request target is parsed once and the path that is checked is the path that is forwarded.
 * Every refusal here stops a parser differential: a path that Gatehouse and the upstream (or a
 * later decoder) would read differently, so a policy checked on one path serves another.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GatehouseError, type ErrorCode } from '../../proxy/errors.js';
import { normalizePath, parseRequestTarget } from '../../proxy/path.js';
import { rng } from '../helpers/prng.js';

/** Runs `fn` and returns the GatehouseError it throws; fails the test when it does not throw one. */
function refusal(fn: () => unknown): GatehouseError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof GatehouseError, `expected a GatehouseError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal, got a result');
}

describe('parseRequestTarget: normalization', () => {
  const cases: Array<[string, string, string]> = [
    // [name, target, expected path]
    ['plain path is kept', '/a/b/c', '/a/b/c'],
    ['root', '/', '/'],
    ['single dot segment removed', '/a/./b', '/a/b'],
    ['dot-dot removes the previous segment', '/a/b/../c', '/a/c'],
    ['mixed dot segments', '/a/./b/../c', '/a/c'],
    ['dot-dot at the end keeps a trailing slash', '/a/b/..', '/a/'],
    ['dot at the end keeps a trailing slash', '/a/b/.', '/a/b/'],
    ['dot-dot back to root', '/a/..', '/'],
    ['encoded dot-dot (lowercase hex)', '/a/%2e%2e/b', '/b'],
    ['encoded dot-dot (uppercase hex)', '/a/%2E%2E/b', '/b'],
    ['half-encoded dot-dot', '/a/.%2e/b', '/b'],
    ['encoded single dot', '/a/%2e/b', '/a/b'],
    ['three dots is an ordinary segment', '/a/.../b', '/a/.../b'],
    ['encoded dots inside a name', '/file%2etxt', '/file.txt'],
    ['duplicate slashes collapse', '//a///b//c', '/a/b/c'],
    ['duplicate trailing slashes collapse to one', '/a//', '/a/'],
    ['trailing slash kept', '/a/b/', '/a/b/'],
    ['encoded unreserved letter decoded', '/%41', '/A'],
    ['encoded unreserved tilde, dash, underscore decoded', '/%7e%2D%5F', '/~-_'],
    ['encoded digits decoded', '/%31%32', '/12'],
    ['reserved stays encoded, hex uppercased', '/%c3%bc', '/%C3%BC'],
    ['encoded space stays encoded', '/a%20b', '/a%20b'],
    ['encoded question mark stays encoded (not a query)', '/a%3fb', '/a%3Fb'],
    ['encoded percent followed by non-hex stays encoded', '/a%25zz', '/a%25zz'],
    ['case is kept: paths are case-sensitive', '/Admin/API', '/Admin/API'],
    ['sub-delims allowed raw', "/a!$&'()*+,=:@b", "/a!$&'()*+,=:@b"],
    ['dot file kept', '/.well-known/x', '/.well-known/x'],
  ];
  for (const [name, target, expected] of cases) {
    it(`${name}: ${target} -> ${expected}`, () => {
      assert.equal(parseRequestTarget(target).path, expected);
    });
  }
});

describe('parseRequestTarget: query', () => {
  const cases: Array<[string, string, string, string]> = [
    // [name, target, path, query]
    ['no query', '/a', '/a', ''],
    ['empty query keeps its ?', '/a?', '/a', '?'],
    ['query kept verbatim', '/a?b=1&c=%2f', '/a', '?b=1&c=%2f'],
    ['dot segments in the query are not touched', '/a/./b?x=/../y/./z', '/a/b', '?x=/../y/./z'],
    ['encodings in the query are not decoded or re-cased', '/a?%41=%c3%bc&%2e%2e', '/a', '?%41=%c3%bc&%2e%2e'],
    ['double slashes in the query are kept', '/a//b?u=http://x//y', '/a/b', '?u=http://x//y'],
    ['second ? belongs to the query', '/a?b?c', '/a', '?b?c'],
  ];
  for (const [name, target, path, query] of cases) {
    it(`${name}: ${target}`, () => {
      assert.deepEqual(parseRequestTarget(target), { path, query });
    });
  }
});

describe('parseRequestTarget: attacks refused', () => {
  const cases: Array<[string, string | undefined, ErrorCode, string]> = [
    // [attack, target, code, reason]
    ['dot-dot above root', '/..', 'BAD_PATH', 'path-climbs-above-root'],
    ['dot-dot above root after a segment', '/a/../../etc/passwd', 'BAD_PATH', 'path-climbs-above-root'],
    ['encoded dot-dot above root', '/%2E%2e/x', 'BAD_PATH', 'path-climbs-above-root'],
    ['encoded dot-dot above root, lowercase', '/%2e%2e/x', 'BAD_PATH', 'path-climbs-above-root'],
    ['encoded slash lowercase (upstream decodes to another path)', '/a%2fb', 'BAD_PATH', 'encoded-slash'],
    ['encoded slash uppercase', '/admin%2F../public', 'BAD_PATH', 'encoded-slash'],
    ['encoded backslash', '/a%5cb', 'BAD_PATH', 'encoded-slash'],
    ['encoded backslash uppercase', '/a%5C..%5Cadmin', 'BAD_PATH', 'encoded-slash'],
    ['raw backslash (IIS/Windows separator)', '/public\\..\\admin', 'BAD_PATH', 'backslash'],
    ['encoded NUL (C-string truncation)', '/admin%00.png', 'BAD_PATH', 'encoded-nul'],
    ['encoded CR (response splitting)', '/a%0d%0aSet-Cookie:x', 'BAD_PATH', 'encoded-control-character'],
    ['encoded LF', '/a%0Ab', 'BAD_PATH', 'encoded-control-character'],
    ['encoded TAB', '/a%09b', 'BAD_PATH', 'encoded-control-character'],
    ['encoded DEL', '/a%7fb', 'BAD_PATH', 'encoded-control-character'],
    ['double encoding of dot', '/a/%252e%252e/b', 'BAD_PATH', 'double-encoding'],
    ['double encoding of slash', '/a%252fb', 'BAD_PATH', 'double-encoding'],
    ['path parameter (Tomcat /admin;x/ splitting)', '/admin;x/', 'BAD_PATH', 'path-parameter'],
    ['path parameter with dot-dot (;/.. trick)', '/public/..;/admin', 'BAD_PATH', 'path-parameter'],
    ['fragment in the target', '/a#b', 'BAD_PATH', 'fragment-in-target'],
    ['raw non-ASCII', '/ü', 'BAD_PATH', 'forbidden-character'],
    ['raw space', '/a b', 'BAD_PATH', 'forbidden-character'],
    ['raw quote', '/a"b', 'BAD_PATH', 'forbidden-character'],
    ['raw angle bracket', '/<script>', 'BAD_PATH', 'forbidden-character'],
    ['raw percent at the end', '/a%', 'BAD_PATH', 'malformed-percent-encoding'],
    ['malformed percent encoding', '/a%zz', 'BAD_PATH', 'malformed-percent-encoding'],
    ['truncated percent encoding', '/a%4', 'BAD_PATH', 'malformed-percent-encoding'],
    ['percent followed by one hex digit and a letter', '/a%4g', 'BAD_PATH', 'malformed-percent-encoding'],
    ['absolute-form target', 'http://evil/x', 'BAD_REQUEST', 'target-not-origin-form'],
    ['absolute-form https target', 'https://evil.example/admin', 'BAD_REQUEST', 'target-not-origin-form'],
    ['asterisk-form target', '*', 'BAD_REQUEST', 'target-not-origin-form'],
    ['authority-form target', 'evil.example:443', 'BAD_REQUEST', 'target-not-origin-form'],
    ['empty target', '', 'BAD_REQUEST', 'target-not-origin-form'],
    ['missing target', undefined, 'BAD_REQUEST', 'target-not-origin-form'],
  ];
  for (const [attack, target, code, reason] of cases) {
    it(`refuses ${attack}: ${JSON.stringify(target)} -> ${code}/${reason}`, () => {
      const err = refusal(() => parseRequestTarget(target));
      assert.equal(err.code, code);
      assert.equal(err.reason, reason);
      assert.equal(err.status, 400);
    });
  }

  // The double-encoding refusal must not be sidestepped by encoding the digits after `%25`:
  // `%25%32%65` would otherwise normalize to `%252e`, which an upstream that decodes twice reads
  // as `.`; the normalized path must never carry `%25` followed by two hex digits.
  const splitDoubleEncoding: Array<[string, string]> = [
    ['encoded digits after %25 (dot)', '/a/%25%32%65%25%32%65/b'],
    ['encoded digits after %25 (slash)', '/a%25%32%66b'],
    ['raw digit then encoded letter after %25', '/a%252%65'],
  ];
  for (const [attack, target] of splitDoubleEncoding) {
    it(`refuses double encoding with ${attack}: ${target}`, () => {
      let path: string | undefined;
      try {
        path = parseRequestTarget(target).path;
      } catch (err) {
        assert.ok(err instanceof GatehouseError);
        assert.equal(err.code, 'BAD_PATH');
        return;
      }
      assert.doesNotMatch(path, /%25[0-9A-Fa-f]{2}/, `normalized to ${path}, which decodes twice to another path`);
    });
  }
});

describe('normalizePath', () => {
  it('gives the same result as parseRequestTarget on the slow path', () => {
    for (const p of ['/a/./b/../c', '//x//y/', '/%41%2e%2e/b', '/%c3%bc']) {
      assert.equal(normalizePath(p), parseRequestTarget(p).path);
    }
  });

  it('refuses with the same codes and reasons', () => {
    const err = refusal(() => normalizePath('/a%2fb'));
    assert.equal(err.code, 'BAD_PATH');
    assert.equal(err.reason, 'encoded-slash');
  });
});


describe('parseRequestTarget: properties over random paths', () => {
  const ALPHABET = ['a', '/', '.', '%2e', '%2E', '..', '%41'];
  const SEED = 0x5eed;
  const RUNS = 2000;

  it(`for ${RUNS} random paths: no dot segment or empty segment survives, and normalizing again changes nothing`, () => {
    const random = rng(SEED);
    let accepted = 0;
    let refused = 0;
    for (let run = 0; run < RUNS; run++) {
      const length = 1 + Math.floor(random() * 12);
      let target = '/';
      for (let i = 0; i < length; i++) target += ALPHABET[Math.floor(random() * ALPHABET.length)]!;
      let path: string;
      try {
        path = parseRequestTarget(target).path;
      } catch (err) {
        assert.ok(err instanceof GatehouseError, `${target}: ${String(err)}`);
        assert.equal(err.code, 'BAD_PATH', target);
        assert.equal(err.reason, 'path-climbs-above-root', target);
        refused++;
        continue;
      }
      accepted++;
      const context = `${target} -> ${path}`;
      assert.ok(path.startsWith('/'), context);
      assert.ok(!path.includes('/./'), context);
      assert.ok(!path.includes('/../'), context);
      assert.ok(!path.includes('//'), context);
      assert.ok(!path.endsWith('/.') && !path.endsWith('/..'), context);
      assert.ok(!/%2e|%41/i.test(path), `encoded unreserved left in ${context}`);
      assert.equal(parseRequestTarget(path).path, path, `not idempotent: ${context}`);
      assert.equal(normalizePath(path), path, `normalizePath not idempotent: ${context}`);
    }
    // The loop must exercise both outcomes, or it proves nothing.
    assert.ok(accepted > 100, `only ${accepted} accepted`);
    assert.ok(refused > 100, `only ${refused} refused`);
  });
});
