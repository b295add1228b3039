/**
 * Deterministic route sets and request mixes for bench/routes.ts: ML services (TensorFlow
 * Serving, MLflow, Databricks-style APIs, Jupyter, Prefect) spread over many hosts, exact and
 * wildcard, with and without ports, plus a few any-host routes. Same seed, same output.
 */
import { rng } from '../../test/helpers/prng.js';

/** A route as a policy file writes it (before the schema fills defaults). */
export type RouteInput = Record<string, unknown> & { name: string; host?: string };

/** One request of the measured mix; `who` indexes {@link IDENTITY_GROUPS}, -1 is anonymous. */
export interface BenchRequest {
  host: string;
  path: string;
  method: string;
  who: number;
  clientIp: string;
}

/** Group sets of the signed-in users the mix draws from. */
export const IDENTITY_GROUPS: readonly (readonly string[])[] = [
  ['ml-engineers'],
  ['data-scientists'],
  ['admins', 'ml-engineers'],
  ['contractors', 'ml-engineers'],
  ['gpu-users', 'ml-engineers', 'team-3'],
  [],
];

type Service = (host: string, team: number) => Array<Omit<RouteInput, 'name'>>;

const tfServing: Service = (host, team) => [
  { host, path: '/v1/models/*:predict', methods: ['POST'], allow: [{ groups: ['ml-engineers', `team-${team}`] }], deny: [{ groups: ['contractors'] }] },
  { host, path: '/v1/models/**:predict', methods: ['POST'], allow: [{ groups: { all: ['ml-engineers', 'gpu-users'] } }] },
  { host, path_exact: '/v1/models/special:predict', allow: [{ groups: ['admins'] }] },
  { host, path: '/v1/models', methods: ['GET'], allow: [{ groups: ['data-scientists', 'ml-engineers'] }] },
  { host, path: '/monitoring/prometheus/metrics', allow: [{ public: true, source_ip: ['10.0.0.0/8'] }] },
];

const mlflow: Service = (host) => [
  {
    host,
    path: '/api/2.0/mlflow',
    allow: [{ groups: ['data-scientists'], methods: ['GET'] }, { groups: ['ml-engineers'] }],
    deny: [{ methods: ['POST', 'DELETE'], paths: ['/api/2.0/mlflow/registered-models/delete', '/api/2.0/mlflow/experiments/delete'], not: { groups: ['admins'] } }],
  },
  { host, path: '/api/2.0/mlflow/artifacts', allow: [{ or: [{ groups: ['ml-engineers'] }, { emails: ['lead@example.com'] }] }] },
  { host, path: '/ajax-api/2.0/mlflow', allow: [{ authenticated: true }] },
  { host, path: '/', methods: ['GET'], allow: [{ authenticated: true }] },
];

const databricks: Service = (host, team) => [
  {
    host,
    path: '/api/2.0/clusters',
    allow: [{ groups: ['ml-engineers', 'data-scientists'] }],
    deny: [{ methods: ['POST'], paths: ['/api/2.0/clusters/delete', '/api/2.0/clusters/permanent-delete'], not: { groups: ['admins'] } }],
  },
  { host, path: '/api/2.0/jobs', methods: ['GET'], allow: [{ authenticated: true }] },
  { host, path: '/api/2.0/jobs', methods: ['POST'], allow: [{ and: [{ groups: ['ml-engineers'] }, { not: { groups: ['contractors'] } }] }] },
  { host, path: '/api/2.0/jobs/runs/**', allow: [{ groups: { any: ['ml-engineers', `team-${team}`] }, source_ip: ['10.0.0.0/8', '192.168.0.0/16'] }] },
  { host, path: '/api/2.1/unity-catalog/tables/*/permissions', allow: [{ groups: ['admins'] }] },
  { host, path: '/api', allow: [{ groups: ['admins'] }], deny: [{ paths: ['/api/2.0/secrets'] }] },
];

const jupyter: Service = (host) => [
  { host, path: '/user/*/api/**', allow: [{ groups: ['ml-engineers', 'data-scientists'], paths: ['/user/*/api/contents/**', '/user/*/api/kernels'] }] },
  { host, path: '/hub/api', methods: ['GET'], allow: [{ authenticated: true }] },
  { host, path: '/', allow: [{ and: [{ groups: ['ml-engineers', 'data-scientists'] }, { not: { groups: ['contractors'] } }] }], deny: [{ paths: ['/hub/admin'], not: { groups: ['admins'] } }] },
];

const prefect: Service = (host) => [
  { host, path: '/api/deployments', methods: ['GET'], allow: [{ authenticated: true }] },
  { host, path: '/api/deployments', methods: ['POST', 'PATCH', 'DELETE'], allow: [{ groups: ['ml-engineers'] }] },
  { host, path: '/api/flow_runs/*/set_state', methods: ['POST'], allow: [{ groups: ['ml-engineers'], methods: ['POST'] }] },
  { host, path: '/api', allow: [{ groups: ['ml-engineers', 'data-scientists'] }] },
];

/** Routes every host shares (any host). */
const ANY_HOST: Array<Omit<RouteInput, 'name'>> = [
  { path_exact: '/healthz', allow: [{ public: true }] },
  { path: '/.well-known', allow: [{ public: true }] },
  { path: '/metrics', allow: [{ public: true, source_ip: ['10.0.0.0/8', '::1'] }] },
];

const SERVICES: ReadonlyArray<[string, Service]> = [
  ['tf', tfServing],
  ['mlflow', mlflow],
  ['dbx', databricks],
  ['nb', jupyter],
  ['prefect', prefect],
];

/** The host of the i-th service: exact names mostly, every 4th a wildcard, every 5th with a port. */
export function serviceHost(kind: string, i: number): string {
  const team = i % 97;
  const base = `${kind}-${i}.team-${team}.ml.example.com`;
  if (i % 4 === 3) return `*.${base}`;
  return i % 5 === 4 ? `${base}:8443` : base;
}

/**
 * `count` routes: the 3 any-host routes first, then whole services host after host (the last
 * one cut at `count`). A larger set starts with the routes of a smaller one, same seed.
 */
export function generateRoutes(count: number, seed: number): RouteInput[] {
  const next = rng(seed);
  const routes: RouteInput[] = [];
  const add = (r: Omit<RouteInput, 'name'>, name: string) => {
    const n = routes.length;
    routes.push({ name, upstream: `http://10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}:8080/`, ...r });
  };
  ANY_HOST.slice(0, count).forEach((r, i) => add(r, `shared-${i}`));
  for (let i = 0; routes.length < count; i++) {
    const [kind, service] = SERVICES[Math.floor(next() * SERVICES.length)]!;
    for (const [j, r] of service(serviceHost(kind, i), i % 97).entries()) {
      if (routes.length >= count) break;
      add(r, `${kind}-${i}-${j}`);
    }
  }
  return routes;
}

/** A concrete path the pattern of `route` covers: globs filled in, prefixes sometimes deepened. */
export function pathInside(route: RouteInput, next: () => number): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
  if (typeof route.path_exact === 'string') return route.path_exact;
  const pattern = typeof route.path === 'string' ? route.path : '/';
  if (pattern.includes('*')) {
    return pattern.replace(/\*\*/g, () => pick(['m1/versions/3', 'a', 'runs/17/output', 'contents/notebooks/x.ipynb'])).replace(/\*/g, () => pick(['resnet', 'bert-large', 'u42', 'n7']));
  }
  const below = pick(['', '', '/get', '/list', '/delete', '/runs/17/get', '/experiments/delete', '/registered-models/delete', '/a/b/c/d']);
  return pattern === '/' ? below || '/' : `${pattern}${below}`;
}

/** A Host header for a route: wildcard hosts get one of a few user labels; any-host routes any configured host. */
function hostFor(route: RouteInput, hosts: readonly string[], next: () => number): string {
  const h = route.host ?? hosts[Math.floor(next() * hosts.length)] ?? 'gatehouse.example.com';
  return h.startsWith('*.') ? `u${Math.floor(next() * 8)}${h.slice(1)}` : h;
}

/**
 * `count` requests: 80% inside a random route (its methods, sometimes one it does not take),
 * 10% to unknown hosts and paths, 10% to known hosts on paths no route covers.
 */
export function generateRequests(routes: readonly RouteInput[], count: number, seed: number): BenchRequest[] {
  const next = rng(seed);
  const hosts = [...new Set(routes.flatMap((r) => (r.host ? [r.host] : [])))];
  const out: BenchRequest[] = [];
  for (let i = 0; i < count; i++) {
    const who = Math.floor(next() * (IDENTITY_GROUPS.length + 1)) - 1;
    const clientIp = next() < 0.8 ? `10.1.${i & 255}.7` : '203.0.113.9';
    const roll = next();
    if (roll < 0.1) {
      out.push({ host: `unknown-${i % 50}.example.org`, path: `/nothing/${i % 7}`, method: 'GET', who, clientIp });
      continue;
    }
    const route = routes[Math.floor(next() * routes.length)]!;
    const host = hostFor(route, hosts, next);
    if (roll < 0.2) {
      out.push({ host, path: `/not-routed/${i % 7}/x`, method: 'GET', who, clientIp });
      continue;
    }
    const methods = Array.isArray(route.methods) ? (route.methods as string[]) : ['GET', 'GET', 'POST', 'DELETE'];
    const method = next() < 0.05 ? 'PUT' : methods[Math.floor(next() * methods.length)]!;
    out.push({ host, path: pathInside(route, next), method, who, clientIp });
  }
  return out;
}
