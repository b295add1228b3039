/**
 * Email domains for home-realm discovery and `enforce`. Domains are compared as DNS does
 * (case-insensitive, IDNs as punycode, trailing dot ignored): otherwise a second IdP could assert
 * ALICE@CORP.EXAMPLE or alice@ｃｏｒｐ.example and slip past an enforced corp.example. Config
 * problems (a domain claimed twice, spelled two ways) are reported with file, line and key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { normalizeDomain } from '../../proxy/config/domain-name.js';
import { loadConfig } from '../../proxy/config/load.js';
import { ConfigError } from '../../proxy/config/problems.js';
import { DomainDirectory, domainOfAddress } from '../../proxy/saml/email-domains.js';

describe('normalizeDomain', () => {
  const same: [string, string][] = [
    ['corp.example', 'corp.example'],
    ['Corp.EXAMPLE', 'corp.example'],
    ['corp.example.', 'corp.example'],
    [' corp.example ', 'corp.example'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['BÜCHER.example', 'xn--bcher-kva.example'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['ｃｏｒｐ.example', 'corp.example'],
  ];
  for (const [input, out] of same) test(`${JSON.stringify(input)} -> ${out}`, () => assert.equal(normalizeDomain(input), out));
  for (const bad of ['', 'localhost', 'corp..example', '-corp.example', 'corp.example/x', 'a@corp.example', 'corp example', '*.corp.example', 'corp.example:443']) {
    test(`${JSON.stringify(bad)} is not a domain`, () => assert.equal(normalizeDomain(bad), undefined));
  }
  test('the domain of an address is read after the last @', () => {
    assert.equal(domainOfAddress('"a@b"@Corp.Example'), 'corp.example');
    assert.equal(domainOfAddress('alice@'), undefined);
    assert.equal(domainOfAddress('alice'), undefined);
  });
});

describe('DomainDirectory', () => {
  const dir = new DomainDirectory([
    { connection: 'corp', domains: ['corp.example', 'Bücher.example'], enforce: true },
    { connection: 'eu', domains: ['eu.partner.example'], enforce: false },
    { connection: 'partner', domains: ['partner.example'], enforce: false },
  ]);

  test('discovery routes by domain, case- and IDN-insensitively', () => {
    assert.equal(dir.route('alice@corp.example'), 'corp');
    assert.equal(dir.route('ALICE@CORP.EXAMPLE'), 'corp');
    assert.equal(dir.route('karl@xn--bcher-kva.example'), 'corp');
    assert.equal(dir.route('karl@BÜCHER.example'), 'corp');
  });

  test('the most specific claimed domain wins; sub-domains follow their parent', () => {
    assert.equal(dir.route('x@eu.partner.example'), 'eu');
    assert.equal(dir.route('x@us.partner.example'), 'partner');
    assert.equal(dir.route('x@mail.corp.example'), 'corp');
  });

  test('unknown or malformed addresses route nowhere', () => {
    for (const a of ['x@other.example', 'x@corp.example.evil', 'corp.example', '', 'x@', 'x@corp..example']) assert.equal(dir.route(a), undefined, a);
  });

  test('enforced owner: the domain, its sub-domains, and every spelling of them', () => {
    for (const n of ['alice@corp.example', 'ALICE@Corp.Example', 'alice@corp.example.', 'alice@eu.corp.example', 'alice@ｃｏｒｐ.example', 'karl@bücher.example']) {
      assert.equal(dir.enforcedOwner(n), 'corp', n);
    }
    assert.equal(dir.enforcedOwner('bob@partner.example'), undefined, 'partner does not enforce');
    assert.equal(dir.enforcedOwner('corp.example'), undefined, 'not an address');
    assert.equal(dir.enforcedOwner(undefined), undefined);
    assert.equal(dir.enforcedOwner('alice@notcorp.example'), undefined, 'a suffix that is not a parent domain');
  });
});

describe('config: email_domains and enforce', () => {
  function problems(connections: Record<string, unknown>[]): string[] {
    const d = mkdtempSync(join(tmpdir(), 'gh-domains-'));
    try {
      writeFileSync(join(d, 'gatehouse.yaml'), stringify({ server: { public_url: 'https://gh.example' }, session: { secret: '${S}' }, saml: { connections }, policies: ['p.yaml'] }));
      try {
        loadConfig(join(d, 'gatehouse.yaml'), { S: 'test-only-4f9c1e7a2b8d6350a1c9e2f7b4d8a6c3' });
      } catch (err) {
        assert.ok(err instanceof ConfigError, String(err));
        // Only the connection keys are under test here (no policy files are written).
        return err.problems.filter((p) => p.key.startsWith('saml.')).map((p) => `${p.file.split('/').pop()}:${p.line} ${p.key}: ${p.message}`);
      }
      return [];
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }
  const conn = (id: string, extra: Record<string, unknown>) => ({ id, idp_metadata_url: 'https://idp.example/md', ...extra });

  test('one domain claimed by two connections: an error at the second claim, with file, line and key', () => {
    const p = problems([conn('corp', { email_domains: ['corp.example'] }), conn('other', { email_domains: ['partner.example', 'corp.example'] })]);
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, /^gatehouse\.yaml:\d+ saml\.connections\[1\]\.email_domains\[1\]: "corp\.example" is already claimed by connection "corp"/);
  });

  test('the same domain spelled differently (case, Unicode vs punycode) is still one domain', () => {
    const p = problems([conn('a', { email_domains: ['Bücher.Example'] }), conn('b', { email_domains: ['xn--bcher-kva.example'] }), conn('c', { email_domains: ['BÜCHER.EXAMPLE.'] })]);
    assert.equal(p.length, 2, p.join('\n'));
    assert.ok(p.every((l) => l.includes('"xn--bcher-kva.example" is already claimed by connection "a"')));
  });

  test('a value that is not a domain is refused', () => {
    const p = problems([conn('a', { email_domains: ['@corp.example'] })]);
    assert.match(p.join('\n'), /email_domains\[0\]: "@corp\.example" is not a domain name/);
  });

  test('enforce without email_domains is refused (it would enforce nothing)', () => {
    assert.match(problems([conn('a', { enforce: true })]).join('\n'), /saml\.connections\[0\]\.enforce: needs email_domains/);
  });

  test('a sub-domain of a domain another connection enforces cannot be claimed', () => {
    const p = problems([conn('corp', { email_domains: ['corp.example'], enforce: true }), conn('eu', { email_domains: ['eu.corp.example'] })]);
    assert.match(p.join('\n'), /saml\.connections\[1\]\.email_domains\[0\]: "eu\.corp\.example" is under "corp\.example", which connection "corp" enforces/);
    assert.deepEqual(problems([conn('corp', { email_domains: ['corp.example'] }), conn('eu', { email_domains: ['eu.corp.example'] })]), [], 'without enforce, the more specific claim simply wins');
  });

  test('allow_idp_initiated is refused with a pointer to idp_initiated', () => {
    const p = problems([conn('a', { allow_idp_initiated: true })]).join('\n');
    assert.match(p, /allow_idp_initiated: replaced by idp_initiated: refuse \| restart \| accept/);
  });

  test('a valid set loads', () => {
    assert.deepEqual(problems([conn('corp', { email_domains: ['corp.example', 'bücher.example'], enforce: true, provider: 'entra' }), conn('partner', { email_domains: ['partner.example'] })]), []);
  });
});
