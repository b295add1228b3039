import type { IncomingMessage, ServerResponse } from 'node:http';
import { auditLine, parseAuditQuery, publicEntry } from '../../audit/audit-query.js';
import type { AuditListing } from '../../audit/saml-audit.js';
import type { AuditEntry, AuditQuery } from '../../audit/saml-audit-types.js';
import { fail } from '../../errors.js';
import type { RequestTarget } from '../../path.js';
import { EVENTS, F } from '../../log.js';
import { principalLabel, type AdminPrincipal } from '../admin-auth.js';
import type { AppContext, RequestScope } from '../context.js';
import { esc, page } from '../html.js';
import { sendHtml, sendJson, wantsPage } from '../respond.js';

const WIDE = `<style>body{max-width:80rem}table{border-collapse:collapse;font-size:.85rem;width:100%}td,th{border-bottom:1px solid #dde3ea;padding:.3rem .4rem;text-align:left;vertical-align:top}
pre{white-space:pre-wrap;word-break:break-all;background:#f5f7f9;padding:.6rem;font-size:.75rem;max-height:30rem;overflow:auto}.refused{color:#a3261c}.accepted{color:#1d6b2f}
form input,form select{font:inherit;margin:0 .4rem .4rem 0}</style>`;

/**
 * `GET /.gatehouse/admin/saml-audit?email=&since=&connection=&verdict=&kind=&limit=&xml=1`: the
 * SAML audit trail (already admitted as an admin). JSON for API clients (XML only with `xml=1`);
 * an HTML page for browsers, every value escaped, each message's XML in a `<pre>`.
 */
export async function handleSamlAudit(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope, who: AdminPrincipal, target: RequestTarget): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw fail('METHOD_NOT_ALLOWED', 'admin-method');
  const params = new URLSearchParams(target.query.slice(1));
  const get = (k: string) => params.get(k) ?? undefined;
  const query = parseAuditQuery({ email: get('email'), since: get('since'), connection: get('connection'), verdict: get('verdict'), kind: get('kind'), limit: get('limit') }, ctx.clock.now());
  if (typeof query === 'string') throw fail('BAD_REQUEST', 'audit-query-invalid', query);
  const listing = await ctx.samlAudit.list(query);
  // Reading personal data is itself worth a line: who looked, for what.
  ctx.log.info(
    { [F.event]: EVENTS.samlAuditRead, [F.requestId]: scope.id, by: principalLabel(who), filters: { email: query.email !== undefined, connection: query.connection, verdict: query.verdict, since: query.since }, count: listing.entries.length },
    'SAML audit trail read',
  );
  if (wantsPage(req)) return sendHtml(res, 200, auditPage(ctx, params, query, listing));
  const withXml = params.get('xml') === '1';
  const settings = ctx.samlAudit.settings;
  return sendJson(res, 200, {
    enabled: ctx.samlAudit.enabled,
    retention_ms: settings.retentionMs,
    entries: listing.entries.map((e) => publicEntry(e, withXml)),
    truncated: listing.truncated,
  });
}

function auditPage(ctx: AppContext, params: URLSearchParams, q: AuditQuery, listing: AuditListing): string {
  const field = (name: string, label: string) => `<label>${esc(label)} <input name="${name}" value="${esc(params.get(name) ?? '')}"></label>`;
  const form = `<form method="get">${field('email', 'Email')}${field('since', 'Since (2h or ISO)')}${field('connection', 'Connection')}${field('verdict', 'Verdict')}${field('limit', 'Limit')}<button type="submit">Filter</button></form>`;
  const state = ctx.samlAudit.enabled
    ? `<p class="muted">Kept ${Math.round(ctx.samlAudit.settings.retentionMs / 3_600_000)} h in the ${esc(ctx.samlAudit.storeKind)} store. Claims of refused messages are what the sender wrote: unverified. ${listing.entries.length} shown${listing.truncated ? ' (more exist: narrow the filters)' : ''}; newest first, at most ${q.limit}.</p>`
    : '<p>The SAML audit trail is off (<code>saml.audit.retention: 0s</code>).</p>';
  const rows = listing.entries.map(row).join('');
  const table = `<table><thead><tr><th>Time</th><th>Verdict</th><th>Code / reason</th><th>Connection</th><th>Email</th><th>Client IP</th><th>Request</th></tr></thead><tbody>${rows}</tbody></table>`;
  return page('SAML audit', `${WIDE}<h1>SAML audit trail</h1>${form}${state}${listing.entries.length ? table : '<p>No messages match.</p>'}`);
}

function row(e: AuditEntry): string {
  const email = e.claims.email ? `${esc(e.claims.email)}${e.claims_verified ? '' : ' <span class="muted">(unverified)</span>'}` : '-';
  const what = e.code ? `<code>${esc(e.code)}</code> ${esc(e.reason)}` : esc(e.reason);
  const claims = JSON.stringify(e.claims, null, 2);
  const size = `${e.xml_bytes} bytes${e.xml_truncated ? ', cut' : ''}${e.claims_error ? `; claims: ${e.claims_error}` : ''}`;
  const details = `<tr><td colspan="7"><details><summary>${esc(e.kind)} · claims ${e.claims_verified ? 'verified' : 'unverified'} · ${esc(size)}</summary><pre>${esc(claims)}</pre><pre>${esc(e.xml)}</pre></details></td></tr>`;
  return `<tr title="${esc(auditLine(e))}"><td>${esc(new Date(e.at).toISOString())}</td><td class="${e.verdict === 'accepted' ? 'accepted' : 'refused'}">${esc(e.verdict)}</td><td>${what}</td><td>${esc(e.connection)}</td><td>${email}</td><td>${esc(e.client_ip)}</td><td><code>${esc(e.req_id)}</code></td></tr>${details}`;
}
