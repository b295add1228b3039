type At = (path: PropertyKey[], key: string, message: string) => void;
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The connection every service-account identity carries (policies may name it in `connections:`). */
export const SERVICE_CONNECTION = 'service-account';

/**
 * `service_accounts` against the rest of the config: a group listed once, written as the IdP
 * would send it (no stray spaces or control characters, which no policy would ever match); no
 * SAML connection named like the service accounts' own (its users would pass `connections:
 * [service-account]` rules); no demo user named like an account (policies and the session
 * index could not tell them apart).
 */
export function checkServiceAccounts(root: Obj, at: At): void {
  const accounts = obj(root.service_accounts);
  const names = Object.keys(accounts);
  if (names.length === 0) return;
  const connections = list(obj(root.saml).connections).map(obj);
  connections.forEach((c, i) => {
    if (c.id === SERVICE_CONNECTION) at(['saml', 'connections', i, 'id'], `saml.connections[${i}].id`, `"${SERVICE_CONNECTION}" is reserved for service accounts; rename this connection`);
    list(obj(c.demo_idp).users).forEach((u, j) => {
      const name = obj(u).name;
      if (typeof name === 'string' && names.includes(name)) {
        at(['saml', 'connections', i, 'demo_idp', 'users', j, 'name'], `saml.connections[${i}].demo_idp.users[${j}].name`, `"${name}" is also a service account: one name, one identity`);
      }
    });
  });
  for (const name of names) {
    const seen = new Set<string>();
    list(obj(accounts[name]).groups).forEach((g, j) => {
      if (typeof g !== 'string') return;
      const path = ['service_accounts', name, 'groups', j];
      const key = `service_accounts.${name}.groups[${j}]`;
      if (g !== g.trim() || /[\u0000-\u001f\u007f]/.test(g)) at(path, key, `"${g}" has leading/trailing spaces or control characters; no policy would match it`);
      if (seen.has(g)) at(path, key, `"${g}" is listed twice`);
      seen.add(g);
    });
  }
}
