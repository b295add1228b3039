import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isGatehouseError } from '../../proxy/errors.js';
import { MAX_XML_DEPTH, nestingDepth, parseStrictXml } from '../../proxy/saml/xml.js';

const reasonOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    if (isGatehouseError(err)) return err.reason;
    throw err;
  }
  return undefined;
};

describe('nestingDepth', () => {
  const cases: [string, string, number][] = [
    ['flat', '<a/>', 0],
    ['one', '<a></a>', 1],
    ['nested', '<a><b><c/></b></a>', 2],
    ['siblings', '<a><b></b><b></b></a>', 2],
    ['comment and PI skipped', '<?xml version="1.0"?><a><!-- <b><c> --><b/></a>', 1],
    ['CDATA skipped', '<a><![CDATA[<b><c><d>]]></a>', 1],
    ['quoted > and /> in attributes do not fool it', '<a x="/>"><b y=\'>\'><c/></b></a>', 2],
  ];
  for (const [name, xml, depth] of cases) test(`${name}: ${depth}`, () => assert.equal(nestingDepth(xml), depth));

  test('deep nesting disguised with "/>" inside attribute values is still counted', () => {
    const xml = `${'<a v="/>">'.repeat(500)}${'</a>'.repeat(500)}`;
    assert.equal(nestingDepth(xml), 500);
  });
});

describe('parseStrictXml', () => {
  test('stack exhaustion: a document nested past MAX_XML_DEPTH is refused before parsing', () => {
    const xml = `${'<a>'.repeat(50_000)}${'</a>'.repeat(50_000)}`;
    assert.equal(reasonOf(() => parseStrictXml(xml)), 'xml-too-deep');
    const ok = `${'<a>'.repeat(MAX_XML_DEPTH)}${'</a>'.repeat(MAX_XML_DEPTH)}`;
    assert.equal(reasonOf(() => parseStrictXml(ok)), undefined);
  });

  test('XXE / billion laughs: any DTD is refused', () => {
    assert.equal(reasonOf(() => parseStrictXml('<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>')), 'xml-dtd-present');
    assert.equal(reasonOf(() => parseStrictXml('<!doctype a><a/>')), 'xml-dtd-present');
  });

  test('parser differential: malformed XML is refused, not recovered', () => {
    for (const xml of ['<a><b></a>', '<a>', 'not xml', '<a x="1" x="2"/>']) {
      assert.equal(reasonOf(() => parseStrictXml(xml)), 'xml-malformed', xml);
    }
  });
});
