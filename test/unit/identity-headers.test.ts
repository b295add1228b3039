/**
 * Identity header values: whatever the IdP puts in a group name or user name, the header value is
 * visible ASCII only (no CR/LF: no header injection into the upstream request), and the group
 * list splits back into exactly the names the IdP sent (no comma confusion: `a,b` is one group).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeGroupsHeader, encodeHeaderValue, encodeIdentity } from '../../proxy/forward/identity-headers.js';
import type { Identity } from '../../proxy/policy/types.js';
import { rng } from '../helpers/prng.js';

const VISIBLE_ASCII = /^[\x21-\x7e]*$/;

function identity(groups: readonly string[], user = 'alice', email?: string): Identity {
  return { user, groups, connection: 'lab', ...(email === undefined ? {} : { email }) };
}

describe('encodeIdentity: groups round-trip exactly through decodeGroupsHeader', () => {
  const cases: Array<[string, string[], string]> = [
    // [name, groups, expected header]
    ['plain names stay readable', ['ml-engineers', 'data_scientists'], 'ml-engineers,data_scientists'],
    ['empty list', [], ''],
    ['comma inside a name (list confusion)', ['a,b', 'c'], 'a%2Cb,c'],
    ['semicolon and equals', ['a;b=c'], 'a;b=c'],
    ['spaces', ['ML Engineers', ' lead '], 'ML%20Engineers,%20lead%20'],
    ['percent (no double-decoding ambiguity)', ['100%', '%2C'], '100%25,%252C'],
    ['double and single quotes', ['"quoted"', "it's"], `"quoted",it's`],
    ['non-ASCII', ['Ünïcode-grüppe'], '%C3%9Cn%C3%AFcode-gr%C3%BCppe'],
    ['emoji', ['🚀 launch'], '%F0%9F%9A%80%20launch'],
    ['CJK', ['東京'], '%E6%9D%B1%E4%BA%AC'],
    ['CR/LF (header injection)', ['x\r\nX-Forwarded-User: admin'], 'x%0D%0AX-Forwarded-User:%20admin'],
    ['NUL, tab, DEL', ['a\u0000b\tc\u007f'], 'a%00b%09c%7F'],
    ['plus stays plus (not form encoding)', ['a+b'], 'a+b'],
    ['leading and trailing commas', [',', ',,'], '%2C,%2C%2C'],
    ['names that look encoded', ['%41', 'a%2Cb'], '%2541,a%252Cb'],
    ['empty name beside others', ['', 'a'], ',a'],
  ];
  for (const [name, groups, header] of cases) {
    it(`${name}: ${JSON.stringify(groups)}`, () => {
      const enc = encodeIdentity(identity(groups));
      assert.equal(enc.groups, header);
      assert.match(enc.groups, VISIBLE_ASCII);
      assert.deepEqual(decodeGroupsHeader(enc.groups), groups);
    });
  }
});

describe('encodeHeaderValue: user and email', () => {
  const cases: Array<[string, string, string]> = [
    ['email stays readable', 'alice@example.com', 'alice@example.com'],
    ['NameID with CR/LF (header injection)', 'alice\r\nX-Forwarded-Groups: admins', 'alice%0D%0AX-Forwarded-Groups:%20admins'],
    ['lone LF', 'a\nb', 'a%0Ab'],
    ['non-ASCII display-ish user', 'Zoë Ångström', 'Zo%C3%AB%20%C3%85ngstr%C3%B6m'],
    ['comma', 'Doe, John', 'Doe%2C%20John'],
    ['empty', '', ''],
  ];
  for (const [name, value, expected] of cases) {
    it(`${name}: ${JSON.stringify(value)}`, () => {
      const enc = encodeHeaderValue(value);
      assert.equal(enc, expected);
      assert.match(enc, VISIBLE_ASCII);
      assert.equal(decodeURIComponent(enc), value);
    });
  }

  it('encodes user and email of an identity the same way', () => {
    const enc = encodeIdentity(identity([], 'bob\r\nx', 'bob@example.com'));
    assert.deepEqual(enc, { user: 'bob%0D%0Ax', email: 'bob@example.com', groups: '' });
  });

  it('gives an empty email when the identity has none', () => {
    assert.equal(encodeIdentity(identity(['g'])).email, '');
  });

  it('computes once per identity object', () => {
    const id = identity(['a,b']);
    assert.equal(encodeIdentity(id), encodeIdentity(id));
  });
});


describe('encodeIdentity: properties over random group lists', () => {
  const ALPHABET = ['a', 'Z', '-', ',', ';', ' ', '%', '%2C', '"', "'", '\r', '\n', '\u0000', 'ü', '東', '🚀', '=', ':', '\\'];

  it('for 2000 random lists of non-empty names: visible ASCII only, and an exact round trip', () => {
    const random = rng(0x6e0);
    for (let run = 0; run < 2000; run++) {
      const groups: string[] = [];
      const count = Math.floor(random() * 5);
      for (let g = 0; g < count; g++) {
        let name = '';
        const length = 1 + Math.floor(random() * 8);
        for (let i = 0; i < length; i++) name += ALPHABET[Math.floor(random() * ALPHABET.length)]!;
        groups.push(name);
      }
      const header = encodeIdentity(identity(groups)).groups;
      assert.match(header, VISIBLE_ASCII, JSON.stringify(groups));
      assert.deepEqual(decodeGroupsHeader(header), groups, header);
    }
  });
});
