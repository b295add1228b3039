import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig } from '../../proxy/config/load.js';
import { Gatehouse } from '../../proxy/server/app.js';
import { freePort } from './free-port.js';
import { captureLogs, type LogCapture } from './log-capture.js';

/** A session secret for tests only (random per process). */
export const TEST_SECRET = `test-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}-abcdefghijklmnop`;

/** A Gatehouse started in-process on a free loopback port, with its logs captured. */
export interface RunningGatehouse {
  url: string;
  app: Gatehouse;
  logs: LogCapture;
  dir: string;
  stop(): Promise<void>;
}

/** What to run: connections and routes as they would be written in YAML. */
export interface GatehouseSetup {
  connections: Record<string, unknown>[];
  routes: Record<string, unknown>[];
  /** Extra top-level config merged over the defaults (`server`, `session`, `saml` keys merged one level). */
  config?: Record<string, unknown>;
  /** Files to write into the config dir first (e.g. IdP metadata). */
  files?: Record<string, string>;
  /** Use this port (the IdP must know our ACS URL before we start). */
  port?: number;
}

/** Writes a config dir, loads it with the real loader and starts Gatehouse. */
export async function startGatehouse(setup: GatehouseSetup): Promise<RunningGatehouse> {
  const port = setup.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  mkdirSync(join(dir, 'policies'));
  for (const [name, text] of Object.entries(setup.files ?? {})) writeFileSync(join(dir, name), text);
  const extra = setup.config ?? {};
  const config = {
    ...extra,
    server: { listen: `127.0.0.1:${port}`, public_url: `http://127.0.0.1:${port}`, ...(extra.server as object) },
    session: { secret: TEST_SECRET, ...(extra.session as object) },
    saml: { ...(extra.saml as object), connections: setup.connections },
    policies: ['policies/*.yaml'],
  };
  writeFileSync(join(dir, 'gatehouse.yaml'), stringify(config));
  writeFileSync(join(dir, 'policies', 'routes.yaml'), stringify({ routes: setup.routes }));
  const logs = captureLogs();
  const app = await Gatehouse.start({ loaded: loadConfig(join(dir, 'gatehouse.yaml'), {}), log: logs.log });
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    logs,
    dir,
    async stop() {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** IdP metadata XML for a test IdP (the test signer's key). */
export function idpMetadataXml(o: { entityId: string; ssoUrl: string; certBase64s: string[] }): string {
  const keys = o.certBase64s
    .map((c) => `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`)
    .join('');
  return (
    `<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${o.entityId}">` +
    `<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${keys}` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${o.ssoUrl}"/>` +
    `</md:IDPSSODescriptor></md:EntityDescriptor>`
  );
}
