/**
 * The SAML audit trail over the memory store with an injected clock: recording after the verdict,
 * listing with filters, retention and the entry bound, sealing (a dump shows no email and no XML),
 * bounded handling of oversized and garbage input, and best-effort unverified claims.
 */
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { AuditSeal } from '../../proxy/audit/audit-seal.js';
import { auditLine, parseAuditQuery, parseSince, terminalSafe } from '../../proxy/audit/audit-query.js';
import { MemoryAuditStore } from '../../proxy/audit/memory-audit-store.js';
import { cutUtf8, decodeMessage, extractClaims } from '../../proxy/audit/saml-claims.js';
import { SamlAudit, type AuditSettings } from '../../proxy/audit/saml-audit.js';
import type { AuditRecordInput } from '../../proxy/audit/saml-audit-types.js';
import { ManualClock } from '../../proxy/clock.js';
import { buildSignedResponseXml, encodeResponse } from '../helpers/saml-idp-signer.js';
import { captureLogs } from '../helpers/log-capture.js';

const SECRET = 'unit-audit-secret-0123456789abcdef0123456789';
const OLD_SECRET = 'unit-audit-old-secret-fedcba9876543210fedcba98';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function setup(over: Partial<AuditSettings> = {}, secrets = [SECRET]) {
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 12));
  const store = new MemoryAuditStore(clock);
  const logs = captureLogs();
  const settings: AuditSettings = { retentionMs: 7 * DAY, maxXmlBytes: 16_384, maxEntries: 1_000, maxParseBytes: 262_144, ...over };
  const audit = new SamlAudit(store, new AuditSeal(secrets), settings, clock, logs.log, () => ({ email: 'email', groups: 'groups' }));
  return { clock, store, audit, logs };
}

const responseXml = (email: string, extra: Parameters<typeof buildSignedResponseXml>[0] extends infer O ? Partial<O> : never = {}) =>
  buildSignedResponseXml({
    idpEntityId: 'https://idp.test.example/metadata',
    spEntityId: 'https://gh.test/.gatehouse/saml/lab/metadata',
    acsUrl: 'https://gh.test/.gatehouse/saml/lab/acs',
    inResponseTo: '_req-123',
    nameId: email,
    attributes: { email: [email], groups: ['ml-engineers', 'staff'] },
    sessionIndex: '_session-42',
    assertionId: '_assertion-7',
    authnContextClassRef: 'urn:oasis:names:tc:SAML:2.0:ac:classes:MultiFactor',
    ...extra,
  });

const refused = (email: string, over: Partial<AuditRecordInput> = {}): AuditRecordInput => ({
  kind: 'response',
  connection: 'lab',
  clientIp: '203.0.113.9',
  reqId: `req-${email}`,
  encoded: { value: encodeResponse(responseXml(email)), binding: 'post' },
  verdict: 'refused',
  code: 'SAML_LOGIN_FAILED',
  reason: 'assertion-replayed',
  ...over,
});

describe('recording and listing', () => {
  test('records after the call returns, and lists newest first with code, reason, IP, request id and unverified claims', async () => {
    const { audit, clock } = setup();
    audit.record(refused('alice@example.com'));
    assert.equal((await audit.list({ limit: 10 })).entries.length, 0, 'nothing is written during the request');
    await audit.settled();
    clock.advance(1000);
    audit.record({ ...refused('bob@example.com'), verdict: 'accepted', code: undefined, reason: 'login', claims: { email: 'bob@example.com', groups: ['mapped'], user: 'bob' } });
    await audit.settled();
    const { entries, truncated } = await audit.list({ limit: 10 });
    assert.equal(truncated, false);
    assert.deepEqual(entries.map((e) => e.claims.email), ['bob@example.com', 'alice@example.com']);
    const [bob, alice] = entries;
    assert.equal(bob!.verdict, 'accepted');
    assert.equal(bob!.claims_verified, true);
    assert.deepEqual(bob!.claims.groups, ['mapped'], 'verified claims win over what the XML says');
    assert.equal(bob!.claims.assertion_id, '_assertion-7', 'fields the caller lacks come from the one verified assertion');
    assert.equal(alice!.verdict, 'refused');
    assert.equal(alice!.code, 'SAML_LOGIN_FAILED');
    assert.equal(alice!.reason, 'assertion-replayed');
    assert.equal(alice!.client_ip, '203.0.113.9');
    assert.equal(alice!.req_id, 'req-alice@example.com');
    assert.equal(alice!.claims_verified, false, 'claims of a refused message are marked unverified');
    assert.deepEqual(
      { ...alice!.claims, attributes: undefined },
      {
        message_id: alice!.claims.message_id,
        in_response_to: '_req-123',
        destination: 'https://gh.test/.gatehouse/saml/lab/acs',
        issuer: 'https://idp.test.example/metadata',
        status: 'urn:oasis:names:tc:SAML:2.0:status:Success',
        assertion_id: '_assertion-7',
        name_id: 'alice@example.com',
        name_id_format: alice!.claims.name_id_format,
        session_index: '_session-42',
        authn_context: 'urn:oasis:names:tc:SAML:2.0:ac:classes:MultiFactor',
        email: 'alice@example.com',
        groups: ['ml-engineers', 'staff'],
        attributes: undefined,
      },
    );
    assert.match(alice!.xml, /^<\?xml [^>]*><samlp:Response /);
    assert.equal(alice!.xml_truncated, false);
    assert.equal(alice!.xml_bytes, Buffer.byteLength(alice!.xml));
    assert.match(auditLine(alice!), /refused {2}SAML_LOGIN_FAILED\/assertion-replayed {2}lab {2}alice@example\.com \(unverified\) {2}203\.0\.113\.9 {2}req-alice@example\.com$/);
  });

  test('filters by email (any case, through the keyed index), connection, verdict, kind and since', async () => {
    const { audit, clock } = setup();
    audit.record(refused('alice@example.com'));
    await audit.settled();
    clock.advance(HOUR);
    const mark = clock.now();
    audit.record(refused('Alice@Example.com', { connection: 'other', verdict: 'accepted', code: undefined, reason: 'login', claims: { email: 'Alice@Example.com' } }));
    audit.record(refused('bob@example.com', { kind: 'logout-request' }));
    await audit.settled();
    const emails = async (q: Parameters<SamlAudit['list']>[0]) => (await audit.list(q)).entries.map((e) => `${e.claims.email}/${e.connection}/${e.verdict}`);
    assert.deepEqual(await emails({ email: 'ALICE@example.com ', limit: 10 }), ['Alice@Example.com/other/accepted', 'alice@example.com/lab/refused']);
    assert.deepEqual(await emails({ connection: 'other', limit: 10 }), ['Alice@Example.com/other/accepted']);
    assert.deepEqual((await emails({ verdict: 'refused', limit: 10 })).sort(), ['alice@example.com/lab/refused', 'bob@example.com/lab/refused']);
    assert.deepEqual(await emails({ kind: 'logout-request', limit: 10 }), ['bob@example.com/lab/refused']);
    assert.equal((await audit.list({ since: mark, limit: 10 })).entries.length, 2);
    assert.deepEqual(await emails({ email: 'nobody@example.com', limit: 10 }), []);
    const limited = await audit.list({ limit: 1 });
    assert.equal(limited.entries.length, 1);
    assert.equal(limited.truncated, true);
  });

  test('entries expire after the retention, and past max_entries the oldest go first', async () => {
    const { audit, clock, store } = setup({ retentionMs: 2 * HOUR, maxEntries: 3 });
    audit.record(refused('old@example.com'));
    await audit.settled();
    clock.advance(2 * HOUR);
    assert.equal((await audit.list({ limit: 10 })).entries.length, 0, 'gone at the retention');
    assert.equal((await audit.list({ email: 'old@example.com', limit: 10 })).entries.length, 0);
    for (const n of [1, 2, 3, 4]) {
      clock.advance(1000);
      audit.record(refused(`u${n}@example.com`));
      await audit.settled();
    }
    assert.equal(store.size, 3, 'the expired entry was dropped and the bound holds');
    assert.deepEqual((await audit.list({ limit: 10 })).entries.map((e) => e.claims.email), ['u4@example.com', 'u3@example.com', 'u2@example.com']);
    assert.equal((await audit.list({ email: 'u1@example.com', limit: 10 })).entries.length, 0);
  });

  test('retention 0s records nothing', async () => {
    const { audit, store } = setup({ retentionMs: 0 });
    audit.record(refused('alice@example.com'));
    await audit.settled();
    assert.equal(store.size, 0);
    assert.equal(audit.enabled, false);
  });
});

describe('bounded work', () => {
  test('a burst beyond 256 writes in flight is dropped and counted, not queued; one log line per 10 s with a code', async () => {
    const { audit, clock, logs } = setup();
    for (let i = 0; i < 300; i++) audit.record(refused(`burst${i}@example.com`, { encoded: undefined, rawXml: '<x/>' }));
    assert.equal(audit.notRecorded, 44, 'dropped at once, synchronously');
    let lines = logs.find((l) => l.event === 'saml-audit-failed');
    assert.equal(lines.length, 1, 'one line for the whole burst');
    assert.equal(lines[0]!.code, 'SAML_AUDIT_NOT_RECORDED');
    assert.equal(lines[0]!.reason, 'audit-backlog-full');
    await audit.settled();
    assert.equal((await audit.list({ limit: 1000 })).entries.length, 256);
    clock.advance(10_000);
    for (let i = 0; i < 300; i++) audit.record(refused(`again${i}@example.com`, { encoded: undefined, rawXml: '<x/>' }));
    lines = logs.find((l) => l.event === 'saml-audit-failed');
    assert.equal(lines.length, 2);
    // The first line counted the first drop; the 43 after it and the first of this burst follow.
    assert.equal(lines[1]!.not_recorded, 43 + 1, 'counts what was not recorded since the last line');
    await audit.settled();
  });
});

describe('sealing', () => {
  test('a dump of the store shows no email, NameID, group, IP or XML; the right secret opens it', async () => {
    const { audit, store } = setup();
    audit.record(refused('carol.secretive@example.com'));
    await audit.settled();
    const dump = store.dump();
    for (const needle of ['carol', 'secretive', 'example.com', 'ml-engineers', '203.0.113.9', 'samlp', 'Response', 'assertion-replayed', 'SAML_LOGIN_FAILED', '_session-42']) {
      assert.ok(!dump.includes(needle), `the dump reveals "${needle}"`);
    }
    assert.equal((await audit.list({ email: 'carol.secretive@example.com', limit: 5 })).entries.length, 1);
  });

  test('another secret opens nothing and finds nothing by email; a rotated-out secret still opens', async () => {
    const clock = new ManualClock();
    const store = new MemoryAuditStore(clock);
    const settings = { retentionMs: DAY, maxXmlBytes: 4096, maxEntries: 100, maxParseBytes: 262_144 };
    const log = captureLogs().log;
    const before = new SamlAudit(store, new AuditSeal([OLD_SECRET]), settings, clock, log);
    before.record(refused('dave@example.com'));
    await before.settled();
    const stranger = new SamlAudit(store, new AuditSeal([SECRET]), settings, clock, log);
    assert.equal((await stranger.list({ limit: 10 })).entries.length, 0);
    const rotated = new SamlAudit(store, new AuditSeal([SECRET, OLD_SECRET]), settings, clock, log);
    assert.equal((await rotated.list({ email: 'dave@example.com', limit: 10 })).entries.length, 1);
  });

  test('an entry moved under another id does not open (the id is authenticated)', () => {
    const seal = new AuditSeal([SECRET]);
    const sealed = seal.seal('id-a', '{"x":1}');
    assert.equal(seal.open('id-a', sealed), '{"x":1}');
    assert.equal(seal.open('id-b', sealed), undefined);
    assert.equal(seal.open('id-a', sealed.slice(0, -2) + (sealed.endsWith('AA') ? 'AB' : 'AA')), undefined);
  });
});

describe('oversized and garbage input', () => {
  test('XML over max_xml_bytes is cut on a character boundary and its full size kept', async () => {
    const { audit } = setup({ maxXmlBytes: 1000 });
    const xml = responseXml('erin@example.com', { attributes: { email: ['erin@example.com'], groups: ['é'.repeat(2000)] } });
    audit.record(refused('erin@example.com', { encoded: { value: encodeResponse(xml), binding: 'post' } }));
    await audit.settled();
    const [e] = (await audit.list({ limit: 1 })).entries;
    assert.equal(e!.xml_truncated, true);
    assert.equal(e!.xml_bytes, Buffer.byteLength(xml));
    assert.ok(Buffer.byteLength(e!.xml) <= 1000);
    assert.ok(!e!.xml.includes('\uFFFD'), 'no character split');
    assert.equal(e!.claims.email, 'erin@example.com', 'claims come from the whole message');
    assert.ok(e!.claims.groups![0]!.length <= 257, 'claim values are capped');
  });

  test('not-base64 garbage is recorded as received (cut) with its size, not parsed', async () => {
    const { audit } = setup({ maxXmlBytes: 64 });
    const junk = '%%%not base64%%%'.repeat(100);
    audit.record(refused('x', { encoded: { value: junk, binding: 'post' }, reason: 'saml-response-not-base64' }));
    await audit.settled();
    const [e] = (await audit.list({ limit: 1 })).entries;
    assert.equal(e!.claims_error, 'not-base64');
    assert.deepEqual(e!.claims, {});
    assert.equal(e!.xml, junk.slice(0, 64));
    assert.equal(e!.xml_bytes, junk.length);
  });

  test('a message larger than the parse bound is kept (cut) but not parsed for claims', async () => {
    const { audit } = setup({ maxParseBytes: 2048, maxXmlBytes: 100 });
    audit.record(refused('frank@example.com'));
    await audit.settled();
    const [e] = (await audit.list({ limit: 1 })).entries;
    assert.equal(e!.claims_error, 'too-large');
    assert.deepEqual(e!.claims, {});
  });

  test('a body never read is recorded with its announced size only', async () => {
    const { audit } = setup();
    audit.record({ kind: 'response', connection: 'lab', clientIp: '::1', reqId: 'r1', unreadBytes: 5_000_000, verdict: 'refused', code: 'BODY_TOO_LARGE', reason: 'body-too-large' });
    await audit.settled();
    const [e] = (await audit.list({ limit: 1 })).entries;
    assert.equal(e!.xml_bytes, 5_000_000);
    assert.equal(e!.xml, '');
    assert.equal(e!.claims_error, 'not-read');
  });

  test('DTD / entity expansion in a message is not expanded by the audit (claims refused, text kept)', () => {
    const bomb = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&b;</samlp:Response>';
    assert.deepEqual(extractClaims(bomb), { claims: {}, error: 'xml-dtd-present' });
  });

  test('redirect binding: inflated within the bound; a deflate bomb is refused as too large', () => {
    const xml = '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lr1"><saml:Issuer>https://idp</saml:Issuer><saml:NameID>gina@example.com</saml:NameID><samlp:SessionIndex>_s9</samlp:SessionIndex></samlp:LogoutRequest>';
    const ok = decodeMessage(deflateRawSync(xml).toString('base64'), 'redirect', 10_000);
    assert.equal(ok.text, xml);
    assert.deepEqual(extractClaims(ok.text).claims, { message_id: '_lr1', issuer: 'https://idp', name_id: 'gina@example.com', session_index: '_s9', email: 'gina@example.com' });
    const bomb = decodeMessage(deflateRawSync(Buffer.alloc(1_000_000, 0x41)).toString('base64'), 'redirect', 10_000);
    assert.equal(bomb.error, 'too-large');
  });

  test('cutUtf8 never splits a character', () => {
    assert.deepEqual(cutUtf8('abc', 10), { text: 'abc', cut: false });
    assert.deepEqual(cutUtf8('aé€😀', 4), { text: 'aé', cut: true });
    assert.deepEqual(cutUtf8('aé€😀', 6), { text: 'aé€', cut: true });
  });
});

describe('terminal output', () => {
  test('escape sequences and newlines a sender wrote cannot rewrite the terminal or fake a line', async () => {
    const { audit } = setup();
    const evil = 'eve\x1b[2J\x1b]0;pwned\x07\u202e@example.com\nfake line';
    audit.record(refused('x', { rawXml: `<r>\x1b[31m</r>`, encoded: undefined, claims: undefined, reqId: 'r\rX', clientIp: '1.2.3.4\n' }));
    await audit.settled();
    const [e] = (await audit.list({ limit: 1 })).entries;
    const line = auditLine({ ...e!, claims: { email: evil } });
    assert.ok(!/[\x00-\x1f\x7f\u202e]/.test(line), JSON.stringify(line));
    assert.match(line, /eve\\u\{1b\}\[2J/);
    assert.equal(terminalSafe(e!.xml), '<r>\\u{1b}[31m</r>');
    assert.equal(terminalSafe('a\tb\nc'), 'a\tb\nc', 'tabs and newlines of the XML stay');
  });
});

describe('queries', () => {
  test('since takes a duration back from now or an ISO time; bad filters are refused with a message', () => {
    const now = Date.UTC(2026, 0, 2);
    assert.equal(parseSince('2h', now), now - 2 * HOUR);
    assert.equal(parseSince('2026-01-01T09:00:00Z', now), Date.UTC(2026, 0, 1, 9));
    assert.equal(parseSince('yesterday', now), undefined);
    assert.deepEqual(parseAuditQuery({ verdict: 'refused', limit: '5', email: ' a@b.c ' }, now), { limit: 5, verdict: 'refused', email: 'a@b.c' });
    assert.match(parseAuditQuery({ verdict: 'maybe' }, now) as string, /verdict/);
    assert.match(parseAuditQuery({ limit: '0' }, now) as string, /limit/);
    assert.match(parseAuditQuery({ since: 'soon' }, now) as string, /since/);
  });
});
