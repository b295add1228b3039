import { X509Certificate } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { generate } from 'selfsigned';
import type { Clock } from '../clock.js';
import type { DemoUser } from '../config/schema.js';
import { fail } from '../errors.js';
import type { IdpMetadata } from '../saml/idp-metadata.js';
import { children, NS, parseStrictXml, textOf } from '../saml/xml.js';
import { signDemoResponse } from './sign-response.js';

/** An AuthnRequest the demo IdP accepted. */
export interface DemoRequest {
  id: string;
  acsUrl: string;
  spEntityId: string;
}

/**
 * A built-in IdP for local trial only: a user picker instead of passwords, a key generated at
 * each start. It refuses to exist unless the config says `demo: true` (checked by the config
 * loader and again by the app), and it only answers requests from its own connection's SP.
 */
export class DemoIdp {
  private constructor(
    readonly entityId: string,
    readonly ssoUrl: string,
    private readonly sp: { entityId: string; acsUrl: string },
    readonly users: readonly DemoUser[],
    private readonly keys: { privateKeyPem: string; certPem: string },
    private readonly clock: Clock,
  ) {}

  /** Generates a fresh signing key and self-signed certificate. */
  static async create(opts: { baseUrl: string; sp: { entityId: string; acsUrl: string }; users: DemoUser[]; clock: Clock }): Promise<DemoIdp> {
    const pems = await generate([{ name: 'commonName', value: 'Gatehouse demo IdP (local trial only)' }], {
      keySize: 2048,
      algorithm: 'sha256',
      days: 2,
    } as Parameters<typeof generate>[1]);
    return new DemoIdp(`${opts.baseUrl}metadata`, `${opts.baseUrl}sso`, opts.sp, opts.users, { privateKeyPem: pems.private, certPem: pems.cert }, opts.clock);
  }

  /** The metadata our SP trusts: this IdP's entity ID, SSO URL and certificate. */
  metadata(): IdpMetadata {
    const cert = new X509Certificate(this.keys.certPem);
    return {
      entityId: this.entityId,
      sso: { redirect: this.ssoUrl },
      slo: {},
      signingCerts: [this.keys.certPem],
      certsExpireAt: [Date.parse(cert.validTo)],
      certFingerprints: [cert.fingerprint256],
      signingKeys: [cert.publicKey],
    };
  }

  /** Decodes an HTTP-Redirect AuthnRequest and checks it comes from our SP. @throws BAD_REQUEST */
  readRequest(samlRequest: string | null): DemoRequest {
    if (!samlRequest || samlRequest.length > 16_384) throw fail('BAD_REQUEST', 'demo-idp-no-request');
    let xml: string;
    try {
      xml = inflateRawSync(Buffer.from(samlRequest, 'base64'), { maxOutputLength: 65_536 }).toString('utf8');
    } catch (err) {
      throw fail('BAD_REQUEST', 'demo-idp-bad-request', err);
    }
    const req = parseStrictXml(xml, 'BAD_REQUEST').documentElement;
    const issuer = textOf(children(req, NS.assertion, 'Issuer')[0]);
    const acsUrl = req.getAttribute('AssertionConsumerServiceURL') ?? '';
    const id = req.getAttribute('ID') ?? '';
    if (req.localName !== 'AuthnRequest' || issuer !== this.sp.entityId || acsUrl !== this.sp.acsUrl || !/^[A-Za-z_][\w.-]{0,127}$/.test(id)) {
      throw fail('BAD_REQUEST', 'demo-idp-unknown-sp');
    }
    return { id, acsUrl, spEntityId: issuer };
  }

  /** Signs a response saying `userName` logged in. @throws BAD_REQUEST for an unknown user */
  respond(request: DemoRequest, userName: string | null): string {
    const user = this.users.find((u) => u.name === userName);
    if (!user) throw fail('BAD_REQUEST', 'demo-idp-unknown-user');
    return signDemoResponse({
      idpEntityId: this.entityId,
      spEntityId: request.spEntityId,
      acsUrl: request.acsUrl,
      inResponseTo: request.id,
      email: user.email,
      groups: user.groups ?? [],
      name: user.name,
      nowMs: this.clock.now(),
      ...this.keys,
    });
  }
}
