/**
 * `npm run bench:tokens`: authenticated GET throughput, latency and Gatehouse CPU per request for
 * each way of presenting an identity, in one interleaved run against one Gatehouse process (memory
 * sessions) and the same echo upstream: the browser session cookie, a CLI access token
 * (`Authorization: Bearer gta_…` and `Proxy-Authorization: Bearer gta_…`), a service-account
 * token (`Authorization: Bearer gts_…`) and the cookie on a route with `identity_jwt: true`; plus
 * the bare upstream and nginx (when installed). The tokens are obtained for real: a CLI login
 * through the demo IdP, the confirm page and the token endpoint (PKCE), and a service token minted
 * through the admin API. Prints a markdown table with ratios to the cookie and to the upstream;
 * the JSON goes to bench/results/. Loopback only; every process started is stopped by its pid
 * (also on Ctrl-C).
 *
 *   npm run bench:tokens -- --rounds 3 --seconds 4
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import { cliLogin } from '../test/helpers/cli-flow.js';
import { demoLogin } from '../test/helpers/demo-login.js';
import { DIRECT, NGINX_W1 } from './lib/baselines.js';
import { startEchoUpstream } from './lib/echo-upstream.js';
import { startGatehouseProcess } from './lib/gatehouse-process.js';
import { nginxAvailable, startNginx } from './lib/nginx.js';
import { runProbedRounds, type ProbedReport, type ProbedTarget } from './lib/probed-rounds.js';
import { writeReport } from './lib/report.js';
import { wrkAvailable } from './lib/wrk.js';
import { exitCodeAfter, problemsBefore } from './lib/run-checks.js';
import { withLifecycle } from './lib/lifecycle.js';
import { parseRoundsArgs } from './lib/args.js';

const USAGE = `node --import tsx bench/tokens.ts [options]   (build first: npm run build)
  --rounds N        interleaved rounds, medians reported [3]
  --seconds N       wrk duration per run [5]
  --connections N   wrk -c [50]
  --threads N       wrk -t [2]
  --warmup N        warm-up seconds per target before round 1 [2]
  --body-bytes N    upstream response body size [100]
  --nginx on|off    the nginx baseline, when installed [on]
  --out dir         where the JSON goes [bench/results]`;

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const MAIN = fileURLToPath(new URL('../dist/proxy/main.js', import.meta.url));
const USER = 'bench';
/** What upstreams see as the demo user (its NameID, the email). */
const USER_ID = 'bench@example.com';
const ACCOUNT = 'bench-ci';
const COOKIE = 'cookie';
/** What each variant sends, for the table (and the JSON). */
const CREDENTIALS: Record<string, string> = {
  [DIRECT]: 'none (the upstream itself)',
  [NGINX_W1]: 'none (plain proxy)',
  [COOKIE]: 'Cookie: gatehouse_session=…',
  'cli-authorization': 'Authorization: Bearer gta_…',
  'cli-proxy-authorization': 'Proxy-Authorization: Bearer gta_…',
  'service-authorization': 'Authorization: Bearer gts_…',
  'cookie-identity-jwt': 'Cookie, route with identity_jwt: true',
};

function parse(argv: string[]) {
  const { args, extra } = parseRoundsArgs(argv, ['nginx'], { seconds: 5, outDir: RESULTS });
  if (extra.nginx !== undefined && extra.nginx !== 'on' && extra.nginx !== 'off') throw new Error(`--nginx wants on or off, got ${extra.nginx}`);
  return { ...args, nginx: extra.nginx !== 'off' };
}

/** A CLI access token (`gta_…`) the way `gatehouse login` gets one: browser login, Allow, code + PKCE verifier. */
async function cliAccessToken(base: string): Promise<string> {
  const tokens = await cliLogin(base, await demoLogin(base, USER));
  if (!tokens.access_token.startsWith('gta_')) throw new Error('the token endpoint answered no gta_ access token');
  return tokens.access_token;
}

/** A service-account token (`gts_…`) minted through the admin API, as `gatehouse tokens create` does. */
async function serviceToken(base: string, adminToken: string): Promise<string> {
  const res = await fetch(`${base}/.gatehouse/admin/service-accounts/${ACCOUNT}/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ttl: '1h', description: 'bench/tokens.ts' }),
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await res.json()) as { token?: string };
  if (res.status !== 201 || !body.token?.startsWith('gts_')) throw new Error(`minting a service token answered ${res.status}: ${JSON.stringify(body)}`);
  return body.token;
}

/** Why `headers` on `url` do not get the upstream's 200, or undefined when they do. */
async function credentialProblem(url: string, headers: Record<string, string>): Promise<string | undefined> {
  const res = await fetch(url, { headers, redirect: 'manual', signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  return res.status === 200 ? undefined : `answered ${res.status}${res.headers.get('location') ? ` → ${res.headers.get('location')}` : ''} ${text.slice(0, 200)}`;
}

/**
 * A one-off upstream that records request headers, behind a route like the measured JWT route: the
 * check that every credential reaches an upstream as the expected user, with an identity JWT for
 * that user and without the Gatehouse token. Not loaded by wrk.
 */
async function startHeaderProbe() {
  let last: IncomingHttpHeaders = {};
  const server = createServer((req, res) => {
    last = req.headers;
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    last: () => last,
    stop: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

function forwardedProblem(h: IncomingHttpHeaders, user: string): string | undefined {
  if (h['x-forwarded-user'] !== user) return `X-Forwarded-User is ${String(h['x-forwarded-user'])}, expected ${user}`;
  if (h.authorization !== undefined || h['proxy-authorization'] !== undefined) return 'a Gatehouse token reached the upstream';
  const jwt = h['x-gatehouse-jwt-assertion'];
  if (typeof jwt !== 'string') return 'no X-Gatehouse-Jwt-Assertion on an identity_jwt route';
  const claims = decodeJwt(jwt);
  return claims.sub === user && claims.aud === 'jwt-probe' ? undefined : `identity JWT for ${claims.sub} / ${String(claims.aud)}`;
}

const fmt = (v: number | undefined, digits: number) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));

/** The table: medians over rounds, ratios to the cookie variant and to the bare upstream. */
function formatTokensMarkdown(report: ProbedReport): string {
  const o = report.options;
  const cookieCpu = report.targets.find((t) => t.name === COOKIE)?.cpuUsPerReq;
  const lines = [
    `wrk -t${o.threads} -c${o.connections} -d${o.seconds}s --latency, ${o.rounds} interleaved rounds (medians), ` +
      `${report.host.cpus} × ${report.host.cpuModel}, Node ${report.host.node}, load ${report.host.loadavgStart[0]?.toFixed(2)} → ${report.host.loadavgEnd[0]?.toFixed(2)}`,
    '',
    '| target | credential | req/s | runs req/s | p50 ms | p99 ms | × cookie | × direct | CPU µs/req | − cookie µs/req | non-2xx+errors |',
    '|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const t of report.targets) {
    const runs = t.runs.map((r) => Math.round(r.requestsPerSec)).join(' / ');
    const gatehouse = t.name !== DIRECT && t.name !== NGINX_W1;
    const delta = gatehouse && t.name !== COOKIE && t.cpuUsPerReq !== undefined && cookieCpu !== undefined ? t.cpuUsPerReq - cookieCpu : undefined;
    const cpuNote = t.name === DIRECT ? ' (upstream)' : t.name === NGINX_W1 ? ' (nginx)' : '';
    lines.push(
      `| ${t.name} | ${CREDENTIALS[t.name] ?? ''} | ${Math.round(t.requestsPerSec)} | ${runs} | ${fmt(t.p50Ms, 2)} | ${fmt(t.p99Ms, 2)} | ${fmt(t.vsReference, 2)} | ${fmt(t.vsDirect, 2)} | ` +
        `${fmt(t.cpuUsPerReq, 1)}${cpuNote} | ${delta === undefined ? '—' : `${delta >= 0 ? '+' : ''}${delta.toFixed(1)}`} | ${t.non2xx + t.errors} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  if (o.help) return console.log(USAGE), 0;
  if (!wrkAvailable()) {
    console.error('wrk is not installed (apt-get install wrk): nothing to measure with');
    return 2;
  }
  if (!existsSync(MAIN)) {
    console.error(`${MAIN} is missing: run npm run build first (npm run bench:tokens does)`);
    return 2;
  }
  return withLifecycle(async (run) => {
    const started = run.started;
    const upstream = started('upstream', await startEchoUpstream({ bodyBytes: o.bodyBytes }));
    const probe = started('header probe', await startHeaderProbe());
    const nginx = o.nginx && nginxAvailable() ? started('nginx', await startNginx({ upstreamPort: upstream.port })) : undefined;
    if (o.nginx && !nginx) console.error('nginx not found: no nginx baseline');
    const adminToken = randomBytes(32).toString('base64url');
    const allow = [{ groups: ['ml-engineers'] }];
    const gh = started(
      'gatehouse',
      await startGatehouseProcess(upstream.url, {
        adminToken,
        // 1h, the longest allowed: a token must not expire during the run.
        config: { tokens: { access_ttl: '1h' }, service_accounts: { [ACCOUNT]: { groups: ['ml-engineers'], description: 'bench/tokens.ts' } } },
        routes: [
          { name: 'jwt', path: '/jwt', upstream: upstream.url, allow, identity_jwt: true },
          { name: 'jwt-probe', path: '/jwt-probe', upstream: probe.url, allow, identity_jwt: true },
        ],
      }),
    );
    const gha = await cliAccessToken(gh.url);
    const ghs = await serviceToken(gh.url, adminToken);

    const bench = `${gh.url}/bench`;
    const variants: (ProbedTarget & { user: string; headers: Record<string, string> })[] = [
      { name: COOKIE, url: bench, headers: { cookie: gh.cookie }, pid: gh.pid, user: USER_ID },
      { name: 'cli-authorization', url: bench, headers: { authorization: `Bearer ${gha}` }, pid: gh.pid, user: USER_ID },
      { name: 'cli-proxy-authorization', url: bench, headers: { 'proxy-authorization': `Bearer ${gha}` }, pid: gh.pid, user: USER_ID },
      { name: 'service-authorization', url: bench, headers: { authorization: `Bearer ${ghs}` }, pid: gh.pid, user: ACCOUNT },
      { name: 'cookie-identity-jwt', url: `${gh.url}/jwt/bench`, headers: { cookie: gh.cookie }, pid: gh.pid, user: USER_ID },
    ];
    const verify = async (when: string): Promise<string[]> => {
      const problems: string[] = [];
      for (const v of variants) {
        const p = await credentialProblem(v.url, v.headers).catch((err: Error) => err.message);
        if (p) problems.push(`${v.name} ${when}: ${p}`);
        const q = await credentialProblem(`${gh.url}/jwt-probe`, v.headers).catch((err: Error) => err.message);
        const r = q ?? forwardedProblem(probe.last(), v.user);
        if (r) problems.push(`${v.name} ${when}, through the identity_jwt probe route: ${r}`);
      }
      return problems;
    };
    if (problemsBefore(await verify('before the run'))) return 1;

    const report = await runProbedRounds({
      ...o,
      reference: COOKIE,
      upstreamPid: upstream.pid,
      targets: [
        { name: DIRECT, url: upstream.url, pid: upstream.pid },
        ...(nginx ? [{ name: NGINX_W1, url: nginx.url, pid: nginx.pid }] : []),
        ...variants.map(({ user: _user, ...t }) => t),
      ],
      log: (l) => console.error(l),
      signal: run.signal,
    });
    const full = {
      ...report,
      options: { ...report.options, nginx: nginx ? '1' : 'off' },
      credentials: CREDENTIALS,
      gatehouse: { session: 'memory', accessTtl: '1h', serviceTokenTtl: '1h', logs: 'access + decisions (all)' },
    };
    console.log(formatTokensMarkdown(full));
    console.error(`results: ${writeReport(full, o.outDir, 'tokens')}`);

    // wrk counts 3xx as success: a lost cookie session would be measured as redirects to the login.
    return exitCodeAfter(report.targets, await verify('after the run'), 'its numbers may not be of authenticated requests');
  });
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
