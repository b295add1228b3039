/**
 * The post-login redirect (`rd`, RelayState) goes only to Gatehouse's own hosts: an open redirect
 * right after sign-in hands a freshly signed-in user to an attacker's page (phishing that looks
 * like it came from the company IdP). Accepted targets come back normalized.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkReturnTo } from '../../proxy/server/return-to.js';

const PUBLIC = new URL('http://127.0.0.1:4180');
const ROUTE_HOSTS: ReadonlySet<string> = new Set(['nb.example.com', 'data.example.com:8443', '*.ml.example.com']);

describe('checkReturnTo: open-redirect attacks refused', () => {
  const attacks: Array<[string, string | undefined | null]> = [
    ['protocol-relative URL', '//evil.com'],
    ['non-ASCII in the query (cannot go into Location: would 500 after login)', '/ml/x?q=\u0100'],
    ['DEL in the query', '/ml/x?q=\u007f'],
    ['protocol-relative URL with a path', '//evil.com/login'],
    ['backslash read as a slash by browsers', '/\\evil.com'],
    ['backslashes only', '\\\\evil.com'],
    ['tab stripped by browsers, leaving //', '/\t/evil.com'],
    ['newline stripped by browsers, leaving //', '/\n/evil.com'],
    ['absolute URL on another host', 'https://evil.com'],
    ['absolute URL on another host, public scheme', 'http://evil.com/'],
    ['public host as userinfo of another host', 'http://127.0.0.1:4180@evil.com/'],
    ['userinfo on the public host', 'http://user:pass@127.0.0.1:4180/'],
    ['backslash before @ (parser differential)', 'http://evil.com\\@127.0.0.1:4180/'],
    ['backslash after the public host', 'http://127.0.0.1:4180\\@evil.com/'],
    ['scheme without slashes on another host', 'http:evil.com'],
    ['scheme with one slash on another host', 'http:/evil.com'],
    ['javascript: URL', 'javascript:alert(1)'],
    ['javascript: URL with leading spaces', '  javascript:alert(1)'],
    ['data: URL', 'data:text/html,<script>alert(1)</script>'],
    ['another scheme than the public URL (https on an http deployment)', 'https://127.0.0.1:4180/x'],
    ['ftp on the public host', 'ftp://127.0.0.1:4180/x'],
    ['route host on another port than the route names', 'http://data.example.com/x'],
    ['look-alike route host', 'http://nb.example.com.evil.com/x'],
    ['two labels under a one-label wildcard route host', 'http://a.b.ml.example.com/x'],
    ['the bare parent of a wildcard route host', 'http://ml.example.com/x'],
    ['a look-alike of a wildcard route host', 'http://a.evilml.example.com/x'],
    ['public host on another port', 'http://127.0.0.1:4181/x'],
    ['NUL in a path', '/x\u0000'],
    ['ESC in a path', '/x\u001b'],
    ['CR/LF in a path (header splitting in Location)', '/x\r\nSet-Cookie: a=b'],
    ['encoded slash (the path upstream would differ)', '/a%2f..%2f..%2fevil'],
    ['dot-dot above root', '/../x'],
    ['raw non-ASCII in a path', '/ü'],
    ['a relative path without a leading slash', 'evil.com/x'],
    ['leading space', ' /x'],
    ['very long target (over 4096 characters)', `/${'a'.repeat(4096)}`],
    ['empty', ''],
    ['undefined', undefined],
    ['null', null],
  ];
  for (const [attack, target] of attacks) {
    it(`refuses ${attack}: ${JSON.stringify(target)?.slice(0, 60)}`, () => {
      assert.equal(checkReturnTo(target, PUBLIC, ROUTE_HOSTS), undefined);
    });
  }
});

describe('checkReturnTo: own targets accepted, normalized', () => {
  const accepted: Array<[string, string, string]> = [
    ['a path with a query', '/x?y=1', '/x?y=1'],
    ['a host a wildcard route serves', 'http://tf.ml.example.com/v1/models', 'http://tf.ml.example.com/v1/models'],
    ['root', '/', '/'],
    ['dot segments removed', '/a/../b', '/b'],
    ['duplicate slashes inside collapse', '/a//b', '/a/b'],
    ['encoded unreserved decoded', '/%41', '/A'],
    ['fragment dropped', '/x?y=1#frag', '/x?y=1'],
    ['fragment that looks like a host dropped', '/x#//evil.com', '/x'],
    ['query kept verbatim, even with //', '/x?next=//evil.com', '/x?next=//evil.com'],
    ['absolute URL on the public host', 'http://127.0.0.1:4180/a?b=1', 'http://127.0.0.1:4180/a?b=1'],
    ['absolute URL on the public host, normalized', 'http://127.0.0.1:4180/a/../b', 'http://127.0.0.1:4180/b'],
    ['absolute URL with upper-case scheme and no path', 'HTTP://127.0.0.1:4180', 'http://127.0.0.1:4180/'],
    ['absolute URL on a route host (any port route)', 'http://NB.example.com/notebooks/1', 'http://nb.example.com/notebooks/1'],
    ['absolute URL on a route host:port', 'http://data.example.com:8443/x', 'http://data.example.com:8443/x'],
    ['a target of exactly 4096 characters', `/${'a'.repeat(4095)}`, `/${'a'.repeat(4095)}`],
  ];
  for (const [name, target, expected] of accepted) {
    it(`accepts ${name}: ${target.slice(0, 60)} -> ${expected.slice(0, 60)}`, () => {
      assert.equal(checkReturnTo(target, PUBLIC, ROUTE_HOSTS), expected);
    });
  }

  it('on an https deployment, https targets on the public host are accepted and http ones refused', () => {
    const https = new URL('https://gate.example.com');
    assert.equal(checkReturnTo('https://gate.example.com/x', https, ROUTE_HOSTS), 'https://gate.example.com/x');
    assert.equal(checkReturnTo('http://gate.example.com/x', https, ROUTE_HOSTS), undefined);
    assert.equal(checkReturnTo('https://gate.example.com:443/x', https, ROUTE_HOSTS), 'https://gate.example.com/x');
  });
});
