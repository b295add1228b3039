/**
 * The SimpleSAMLphp harness itself: a real IdP on loopback, real Chromium, and a plain Node
 * http server standing in for an SP's AssertionConsumerService (it only records the POST).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DOMParser } from '@xmldom/xmldom';
import type { Browser } from 'playwright-core';
import { e2eSkipReason, launchBrowser, loginAtSimpleSamlPhp } from '../helpers/browser.js';
import { simpleSamlPhpAvailable, startSimpleSamlPhp } from '../helpers/simplesamlphp.js';
import type { RunningIdp } from '../helpers/simplesamlphp.js';

const SAML_ASSERTION_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
const SAML_PROTOCOL_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
const XMLDSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const NAME_FORMAT_BASIC = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';

const skipReason = e2eSkipReason(simpleSamlPhpAvailable());

/** A form POSTed to the stand-in ACS. */
interface AcsPost {
  path: string;
  form: URLSearchParams;
}

interface StandInAcs {
  origin: string;
  nextPost(): Promise<AcsPost>;
  close(): Promise<void>;
}

/** An http server on 127.0.0.1:0 that answers every POST with 200 and queues its form. */
async function startStandInAcs(): Promise<StandInAcs> {
  const posts: AcsPost[] = [];
  const waiters: ((post: AcsPost) => void)[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('received');
      if (req.method !== 'POST') return;
      const post = { path: req.url ?? '', form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')) };
      const waiter = waiters.shift();
      if (waiter) waiter(post);
      else posts.push(post);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    nextPost: () => {
      const queued = posts.shift();
      return queued ? Promise.resolve(queued) : new Promise((resolve) => waiters.push(resolve));
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A SAMLResponse parsed enough to assert on (the XML parser decodes entities). */
interface DecodedResponse {
  xml: string;
  doc: Document;
  attributes: Map<string, string[]>;
}

function decodeSamlResponse(form: URLSearchParams): DecodedResponse {
  const encoded = form.get('SAMLResponse');
  assert.ok(encoded, 'the ACS received a SAMLResponse');
  assert.match(encoded, /^[A-Za-z0-9+/=\s]+$/, 'SAMLResponse is base64');
  const xml = Buffer.from(encoded, 'base64').toString('utf8');
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const attributes = new Map<string, string[]>();
  for (const attr of Array.from(doc.getElementsByTagNameNS(SAML_ASSERTION_NS, 'Attribute'))) {
    const values = Array.from(attr.getElementsByTagNameNS(SAML_ASSERTION_NS, 'AttributeValue'));
    attributes.set(attr.getAttribute('Name') ?? '', values.map((v) => v.textContent ?? ''));
  }
  return { xml, doc, attributes };
}

describe('SimpleSAMLphp test IdP harness', { timeout: 120_000 }, () => {
  let idp: RunningIdp | undefined;
  let browser: Browser | undefined;
  let acs: StandInAcs | undefined;
  let spEntityId = '';
  let acsUrl = '';

  before(async () => {
    if (skipReason) return;
    acs = await startStandInAcs();
    spEntityId = `${acs.origin}/sp-metadata`;
    acsUrl = `${acs.origin}/saml/acs`;
    idp = await startSimpleSamlPhp();
    await idp.registerSp({ entityId: spEntityId, acsUrl, sloUrl: `${acs.origin}/saml/slo` });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await idp?.stop();
    await acs?.close();
  });

  /** IdP-initiated login in a fresh browser context; resolves with what the ACS received. */
  async function idpInitiatedLogin(username: string, password: string, relayState?: string): Promise<AcsPost> {
    assert.ok(idp && browser && acs);
    const url = new URL(idp.ssoUrl);
    url.searchParams.set('spentityid', spEntityId);
    if (relayState !== undefined) url.searchParams.set('RelayState', relayState);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const posted = acs.nextPost();
      await page.goto(url.href);
      await loginAtSimpleSamlPhp(page, username, password);
      return await posted;
    } finally {
      await context.close();
    }
  }

  it('serves metadata with its signing certificate and SSO URL', async (t) => {
    if (skipReason) return t.skip(skipReason);
    assert.ok(idp);
    assert.equal(idp.entityId, idp.metadataUrl);
    assert.match(idp.baseUrl, /^http:\/\/127\.0\.0\.1:\d+\/simplesaml\/$/);
    const res = await fetch(idp.metadataUrl);
    assert.equal(res.status, 200);
    const xml = await res.text();
    assert.match(xml, /<ds:X509Certificate>[A-Za-z0-9+/=\s]{500,}<\/ds:X509Certificate>/);
    assert.ok(xml.includes(`entityID="${idp.entityId}"`), 'entity ID');
    assert.ok(xml.includes(`Location="${idp.ssoUrl}"`), 'SSO URL');
    assert.ok(xml.includes(`Location="${idp.sloUrl}"`), 'SLO URL');
    assert.ok(xml.includes(NAMEID_EMAIL), 'emailAddress NameID format');
  });

  it('IdP-initiated login as alice POSTs a signed SAMLResponse to the ACS', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const relayState = '/notebooks/?q=a b&x=ü';
    const post = await idpInitiatedLogin('alice', 'alice-pw', relayState);
    assert.equal(post.path, '/saml/acs');
    assert.equal(post.form.get('RelayState'), relayState);
    const { xml, doc, attributes } = decodeSamlResponse(post.form);
    for (const expected of ['alice@example.com', 'ml-engineers', 'Signature']) {
      assert.ok(xml.includes(expected), `SAMLResponse contains ${expected}`);
    }

    const response = doc.getElementsByTagNameNS(SAML_PROTOCOL_NS, 'Response')[0];
    assert.ok(response);
    assert.equal(response.getAttribute('Destination'), acsUrl);
    assert.equal(response.hasAttribute('InResponseTo'), false, 'unsolicited: no InResponseTo');
    const signatures = Array.from(doc.getElementsByTagNameNS(XMLDSIG_NS, 'Signature'));
    assert.deepEqual(
      signatures.map((s) => (s.parentNode as Element).localName).sort(),
      ['Assertion', 'Response'],
      'Response and Assertion are both signed',
    );
    for (const method of Array.from(doc.getElementsByTagNameNS(XMLDSIG_NS, 'SignatureMethod'))) {
      assert.equal(method.getAttribute('Algorithm'), RSA_SHA256);
    }

    const nameId = doc.getElementsByTagNameNS(SAML_ASSERTION_NS, 'NameID')[0];
    assert.equal(nameId?.textContent, 'alice@example.com');
    assert.equal(nameId?.getAttribute('Format'), NAMEID_EMAIL);
    for (const attr of Array.from(doc.getElementsByTagNameNS(SAML_ASSERTION_NS, 'Attribute'))) {
      assert.equal(attr.getAttribute('NameFormat'), NAME_FORMAT_BASIC);
    }
    assert.deepEqual(Object.fromEntries(attributes), {
      email: ['alice@example.com'],
      groups: ['ml-engineers', 'admins'],
      displayName: ['Alice Anderson'],
    });
  });

  it('dave\'s awkward group names arrive exactly', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { attributes } = decodeSamlResponse((await idpInitiatedLogin('dave', 'dave-pw')).form);
    assert.deepEqual(attributes.get('groups'), ['team, ml', 'a;b', 'space name', 'Ünïcode-grüppe']);
    assert.deepEqual(attributes.get('email'), ['dave@example.com']);
  });

  it('carol has no groups attribute at all', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { attributes } = decodeSamlResponse((await idpInitiatedLogin('carol', 'carol-pw')).form);
    assert.deepEqual([...attributes.keys()], ['email']);
  });
});
