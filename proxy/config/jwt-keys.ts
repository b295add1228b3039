import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** One public key as the JWKS publishes it (RFC 7517, RFC 7518 6.2.1). */
export interface PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  alg: 'ES256';
  use: 'sig';
}

/** One identity JWT signing key: EC P-256, named by its RFC 7638 thumbprint. */
export interface JwtKey {
  /** Never logged. */
  readonly privateKey: KeyObject;
  /** RFC 7638 JWK thumbprint (SHA-256, base64url): the JWT header's `kid`. */
  readonly kid: string;
  readonly jwk: Readonly<PublicJwk>;
}

/**
 * Reads and checks one PEM private key file (PKCS#8 or SEC1 `EC PRIVATE KEY`).
 * @returns the key, or a message saying what is wrong (for config problems; never key material)
 */
export function readJwtKey(file: string, dir: string): JwtKey | string {
  let pem: string;
  try {
    pem = readFileSync(resolve(dir, file), 'utf8');
  } catch (err) {
    return `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    // The parser's message may quote key material: say only what is wrong.
    return `${file} is not an unencrypted PEM private key (make one with: openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out ${file})`;
  }
  // ES256 is ECDSA over P-256 with SHA-256 (RFC 7518 3.4): any other key would sign another alg.
  if (key.asymmetricKeyType !== 'ec') return `${file} is a ${key.asymmetricKeyType ?? 'secret'} key; ES256 needs an EC P-256 key`;
  if (key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return `${file} is on curve ${key.asymmetricKeyDetails?.namedCurve ?? '?'}; ES256 needs P-256 (prime256v1)`;
  return jwtKeyOf(key);
}

/** A key made now, for a single memory-store instance without `signing_keys`. */
export function generateJwtKey(): JwtKey {
  return jwtKeyOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
}

/** The key with its public JWK and thumbprint `kid`. */
function jwtKeyOf(privateKey: KeyObject): JwtKey {
  const pub = createPublicKey(privateKey).export({ format: 'jwk' });
  const kid = jwkThumbprint(pub.x!, pub.y!);
  return Object.freeze({ privateKey, kid, jwk: Object.freeze({ kty: 'EC', crv: 'P-256', x: pub.x!, y: pub.y!, kid, alg: 'ES256', use: 'sig' } as const) });
}

/**
 * RFC 7638 3.2: SHA-256 over the required members only (`crv`, `kty`, `x`, `y`), in that
 * lexicographic order, no whitespace; base64url without padding.
 */
function jwkThumbprint(x: string, y: string): string {
  return createHash('sha256').update(`{"crv":"P-256","kty":"EC","x":"${x}","y":"${y}"}`).digest('base64url');
}
