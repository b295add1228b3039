#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { runAuditSaml } from './cli/audit.js';
import { runCheck } from './cli/check.js';
import { CLIENT_COMMANDS, runClientCommand } from './cli/client-commands.js';
import { runMetadata } from './cli/metadata.js';
import { runPolicyDiff } from './cli/policy-diff.js';
import { runExplain } from './cli/policy-explain.js';
import { runPolicyTest } from './cli/policy-test.js';
import { runServe } from './cli/serve.js';
import { runSessions } from './cli/sessions.js';
import { runTokens } from './cli/tokens.js';

const USAGE = `usage: gatehouse <command> [options]

commands:
  serve --config FILE   run the proxy
  check --config FILE [--strict] [--offline]
                        validate the config, every policy file and each IdP's metadata (URLs
                        fetched unless --offline; exit 1 on problems), then lint group names,
                        shadowed routes, step-up classes no connection can give, IdP and SP
                        certificates expiring within 30 days, plain-http metadata without a
                        signature pin, routes service accounts reach through authenticated:
                        true (warnings; --strict: exit 1 on warnings too)
  policy explain [--user U] [--email E] [--groups a,b] [--connection C] [--source-ip IP] [--json] METHOD URL
                        decide one request as serve would: decision, route, rule, reasons
                        (no --user/--email/--groups: an anonymous request; exit 0 allowed, 1 not)
  policy test FILE...   run test files of cases (identity + request -> expected decision); list
                        rules and routes no case exercised (exit 0 all pass, 1 a case failed)
  policy diff OLD NEW --identities FILE [--json]
                        who gains or loses access between two policy files or directories
                        (exit 0 no change, 1 changes)
  sessions list [--email E] [--json]
                        live sessions (of one user by email or user name)
  sessions revoke --email E | --id ID [--json]
                        end sessions on every instance at once (Redis: talks to Redis; memory
                        store: the running instance's admin API with admin.token)
  audit saml [--email E] [--since 2h|ISO] [--connection ID] [--verdict accepted|refused]
             [--kind response|logout-request|logout-response] [--limit N] [--json] [--show-xml]
             [--instance URL] [--admin-token-file FILE]
                        SAML messages received (verdict, code, claims, raw XML), newest first;
                        Redis store: read from Redis; memory store (or --instance): from the
                        running instance's admin API (server.listen) with admin.token
  metadata list [--instance URL] [--admin-token-file FILE] [--json]
                        each connection's IdP metadata state on a running instance
  metadata refresh CONNECTION [--instance URL] [--admin-token-file FILE] [--json]
                        fetch that IdP's metadata now on one instance (each instance keeps its
                        own copy); exit 1 when the refresh failed (the last good copy is kept)
  tokens create --service-account NAME [--ttl 1h] [--description TEXT] [--json]
                        mint a service-account token (printed once on stdout; ttl at most the
                        account's max_ttl) through the running instance's admin API
  tokens list [--service-account NAME] [--json]
                        live service-account tokens (id, account, created, last used, expires)
  tokens revoke ID [--json]
                        end one service-account token on every instance at once
                        (tokens: --instance URL and --admin-token-file FILE as for metadata)

commands for CLI and API access (docs/cli.md; tokens kept 0600 in
~/.config/gatehouse/credentials.json; $XDG_CONFIG_HOME and $GATEHOUSE_CONFIG_DIR move it):
  login URL [--no-browser]
                        sign in through the browser (loopback redirect, PKCE); --no-browser (or
                        over SSH without a display): type the code the browser shows
  token [--host URL]    print a valid access token (refreshed when under a minute is left;
                        exit 1 when the session ended: run gatehouse login again)
  logout [--host URL]   revoke the CLI session and forget its tokens
  whoami [--host URL] [--json]
                        who this terminal acts as (user, email, groups, connection, client,
                        session end) from /.gatehouse/userinfo; --json: the answer as served
  curl [--host URL] CURL-ARGS...
                        run curl with Proxy-Authorization: Bearer <token> (not on the command
                        line; only to the signed-in Gatehouse's hosts; no -L); curl's exit code
  exec [--host URL] [--env NAME]... -- CMD ARGS...
                        run CMD with GATEHOUSE_TOKEN (and each NAME) set to an access token and
                        GATEHOUSE_URL to the Gatehouse; CMD's exit code
  tunnel [--listen 127.0.0.1:8501] URL
                        a local port (loopback only) forwarding requests and websockets to URL's
                        host with a fresh token, for clients that cannot set headers; Ctrl-C stops

options:
  -c, --config FILE     config file (default: $GATEHOUSE_CONFIG or ./gatehouse.yaml)
  -h, --help            show this help
`;

/** Process entry: argv -> command. */
async function main(argv: string[]): Promise<number> {
  if (argv[0] !== undefined && CLIENT_COMMANDS.has(argv[0])) return runClientCommand(argv[0], argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      user: { type: 'string' },
      email: { type: 'string' },
      groups: { type: 'string', multiple: true },
      connection: { type: 'string' },
      'source-ip': { type: 'string' },
      json: { type: 'boolean' },
      identities: { type: 'string' },
      strict: { type: 'boolean' },
      offline: { type: 'boolean' },
      id: { type: 'string' },
      since: { type: 'string' },
      verdict: { type: 'string' },
      kind: { type: 'string' },
      limit: { type: 'string' },
      'show-xml': { type: 'boolean' },
      instance: { type: 'string' },
      'admin-token-file': { type: 'string' },
      'service-account': { type: 'string' },
      ttl: { type: 'string' },
      description: { type: 'string' },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const config = values.config ?? process.env.GATEHOUSE_CONFIG ?? 'gatehouse.yaml';
  if (command === 'serve') return runServe(config);
  if (command === 'check') return runCheck(config, undefined, undefined, { strict: values.strict === true, offline: values.offline === true });
  if (command === 'policy' && positionals[1] === 'explain' && positionals.length === 4) {
    const groups = (values.groups ?? []).flatMap((g) => g.split(',')).map((g) => g.trim()).filter(Boolean);
    const named = values.user !== undefined || values.email !== undefined || groups.length > 0;
    const who = named ? { user: values.user, email: values.email, groups, connection: values.connection } : undefined;
    return runExplain(config, { method: positionals[2]!, url: positionals[3]!, who, sourceIp: values['source-ip'], json: values.json === true });
  }
  if (command === 'policy' && positionals[1] === 'test' && positionals.length > 2) return runPolicyTest(positionals.slice(2));
  if (command === 'policy' && positionals[1] === 'diff' && positionals.length === 4) {
    if (values.identities === undefined) {
      process.stderr.write('gatehouse: policy diff needs --identities FILE (who to ask about)\n');
      return 2;
    }
    return runPolicyDiff({ old: positionals[2]!, new: positionals[3]!, identities: values.identities, json: values.json === true });
  }
  if (command === 'sessions' && (positionals[1] === 'list' || positionals[1] === 'revoke') && positionals.length === 2) {
    return runSessions(config, { action: positionals[1], email: values.email, id: values.id, json: values.json === true });
  }
  if (command === 'audit' && positionals[1] === 'saml' && positionals.length === 2) {
    const { email, since, connection, verdict, kind, limit, instance } = values;
    return runAuditSaml(config, { email, since, connection, verdict, kind, limit, instance, adminTokenFile: values['admin-token-file'], json: values.json === true, showXml: values['show-xml'] === true });
  }
  if (command === 'metadata' && ((positionals[1] === 'list' && positionals.length === 2) || (positionals[1] === 'refresh' && positionals.length === 3))) {
    return runMetadata(config, { action: positionals[1], connection: positionals[2], instance: values.instance, adminTokenFile: values['admin-token-file'], json: values.json === true });
  }
  if (command === 'tokens' && (((positionals[1] === 'create' || positionals[1] === 'list') && positionals.length === 2) || (positionals[1] === 'revoke' && positionals.length === 3))) {
    const { ttl, description, instance } = values;
    return runTokens(config, { action: positionals[1], serviceAccount: values['service-account'], ttl, description, id: positionals[2], instance, adminTokenFile: values['admin-token-file'], json: values.json === true });
  }
  process.stderr.write(`gatehouse: unknown command "${command}"\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`gatehouse: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
