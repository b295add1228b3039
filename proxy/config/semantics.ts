import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GatehouseConfig } from './schema.js';
import type { LoadedPolicyFile } from './load.js';
import type { ConfigProblem } from './problems.js';
import { locate, type YamlSource } from './yaml-source.js';
import { buildTrustList } from '../server/trusted-proxies.js';

/** Rules that span several keys of the config file (the schema checks single keys). */
export function checkConfigSemantics(config: GatehouseConfig, src: YamlSource, dir: string, problems: ConfigProblem[]): void {
  const at = (path: PropertyKey[], key: string, message: string) =>
    problems.push({ file: src.file, line: locate(src, path), key, message });

  const url = new URL(config.server.public_url);
  if (url.pathname !== '/' || url.search || url.hash) {
    at(['server', 'public_url'], 'server.public_url', 'must be an origin only (scheme://host[:port]), without path or query');
  }
  for (const bad of buildTrustList(config.server.trusted_proxies).invalid) {
    at(['server', 'trusted_proxies'], 'server.trusted_proxies', `"${bad}" is not an IP address or CIDR`);
  }
  const seen = new Set<string>();
  config.saml.connections.forEach((c, i) => {
    const base = ['saml', 'connections', i];
    const key = `saml.connections[${i}]`;
    if (seen.has(c.id)) at([...base, 'id'], `${key}.id`, `duplicate connection id "${c.id}"`);
    seen.add(c.id);
    const sources = [c.idp_metadata_url, c.idp_metadata_file, c.demo_idp].filter((s) => s !== undefined).length;
    if (sources !== 1) at(base, key, 'set exactly one of idp_metadata_url, idp_metadata_file, demo_idp');
    if (c.demo_idp && !config.demo) {
      at([...base, 'demo_idp'], `${key}.demo_idp`, 'the demo IdP is for local trial only and refuses to run unless `demo: true` is set');
    }
    if (c.idp_metadata_file && !existsSync(resolve(dir, c.idp_metadata_file))) {
      at([...base, 'idp_metadata_file'], `${key}.idp_metadata_file`, `file not found: ${c.idp_metadata_file}`);
    }
  });
  if (config.demo_upstream && !config.demo) {
    at(['demo_upstream'], 'demo_upstream', 'the demo upstream refuses to run unless `demo: true` is set');
  }
  if (config.session.secret === undefined && !config.demo) {
    at(['session'], 'session.secret', 'required (set secret: ${GATEHOUSE_SESSION_SECRET} or secret_file)');
  }
  if (config.session.secret !== undefined && /change.?me|example|secret{2,}|^(.)\1+$/i.test(config.session.secret)) {
    at(['session', 'secret'], 'session.secret', 'looks like a placeholder; generate one with: openssl rand -base64 48');
  }
}

/** Rules across all policy files: unique route names, no two routes on the same host and path. */
export function checkPolicySemantics(files: LoadedPolicyFile[], problems: ConfigProblem[]): void {
  const names = new Map<string, string>();
  const places = new Map<string, string>();
  for (const f of files) {
    f.policy.routes.forEach((route, i) => {
      const line = f.routeLines[i] ?? 0;
      const key = `routes[${i}]`;
      const prior = names.get(route.name);
      if (prior) problems.push({ file: f.file, line, key: `${key}.name`, message: `route name "${route.name}" already used at ${prior}` });
      names.set(route.name, `${f.file}:${line}`);
      const place = `${route.host ?? '*'}${route.path.replace(/\/+$/, '') || '/'}`;
      const same = places.get(place);
      if (same) problems.push({ file: f.file, line, key, message: `same host and path as the route at ${same}; this one could never match` });
      places.set(place, `${f.file}:${line}`);
    });
  }
}
