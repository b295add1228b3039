/**
 * Properties of normalization plus matching, checked on generated paths and policies: a request
 * is never admitted to a path outside the route and the rule that allowed it, as an independent
 * reading of the raw path sees it (dot segments removed as the WHATWG URL standard says, then
 * every `%XX` decoded, the way a decoding upstream reads it); a deny on a path holds for every spelling of that path; prefixes
 * end on segment boundaries, case counts, `*` never crosses `/`; and the trie agrees with a
 * naive scan of every route. Seeded: set FC_SEED (and FC_RUNS, a multiplier) to explore; a
 * failure message gives the seed and path to replay.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LinearRouteScan } from '../../bench/lib/linear-route-scan.js';
import { policyFileSchema } from '../../proxy/config/policy-schema.js';
import { isGatehouseError } from '../../proxy/errors.js';
import { parseRequestTarget } from '../../proxy/path.js';
import { compileRoutes, type CompiledRoute } from '../../proxy/policy/compile.js';
import { evaluate } from '../../proxy/policy/evaluate.js';
import { compilePathPattern } from '../../proxy/policy/path-pattern.js';
import { RouteTable, type RouteMatch } from '../../proxy/policy/route-table.js';
import type { Identity } from '../../proxy/policy/types.js';

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 20_261_123;
/** FC_RUNS scales every property's runs up, to search harder than CI does. */
const SCALE = Number(process.env.FC_RUNS ?? 1);
const run = (numRuns: number) => ({ seed: SEED, numRuns: numRuns * SCALE, includeErrorInReport: true });

const UP = 'http://127.0.0.1:1/';
const USER: Identity = { user: 'u', email: 'u@example.com', groups: ['g'], connection: 'okta' };

type Json = Record<string, unknown>;

function compile(routes: Json[]): CompiledRoute[] {
  const policy = policyFileSchema.parse({ routes: routes.map((r, i) => ({ name: `r${i}`, upstream: UP, allow: [{ authenticated: true }], ...r })) });
  return compileRoutes([{ file: 'p.yaml', policy, routeLines: routes.map((_r, i) => i + 1) }]);
}

/** The normalized path, or undefined when Gatehouse refuses the target. */
function normalized(raw: string): string | undefined {
  try {
    return parseRequestTarget(raw).path;
  } catch (err) {
    if (isGatehouseError(err)) return undefined;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// The reference reading: no code shared with proxy/path.ts or proxy/policy/path-pattern.ts.

/** Every `%XX` decoded to its byte (a latin1 string, so invalid UTF-8 compares as bytes too). */
const decodeAll = (s: string) => s.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/**
 * The path a decoding upstream serves for a raw target: slashes merged (nginx's merge_slashes),
 * dot segments removed as the WHATWG URL standard says (`.` or `%2e`, `..` or any mix of `.`
 * and `%2e`, case-insensitive; a dot segment at the end leaves a trailing `/`), then every
 * escape decoded. Not `new URL(raw).pathname`: Node 20's parser (ada 2.9.2) keeps `/./` and
 * `/../` after a segment that starts with a dot (`/a/.x/./c` stays so; ada-url/ada#935).
 */
function referencePath(raw: string): string {
  const segments = raw.replace(/\/{2,}/g, '/').split('/').slice(1);
  const out: string[] = [];
  for (const [i, seg] of segments.entries()) {
    const last = i === segments.length - 1;
    if (/^(\.|%2e)(\.|%2e)$/i.test(seg)) {
      out.pop();
      if (last) out.push('');
    } else if (/^(\.|%2e)$/i.test(seg)) {
      if (last) out.push('');
    } else out.push(seg);
  }
  return decodeAll(`/${out.join('/')}`);
}

/**
 * Does a pattern as written in a policy cover a reference path? Decoded, then compared as
 * docs/policies.md says: a prefix on whole segments; a glob or exact path whole, or with one
 * trailing `/` more.
 */
function referenceCovers(pattern: string, kind: 'prefix' | 'glob' | 'exact', path: string): boolean {
  const p = decodeAll(pattern);
  const orSlash = (test: (q: string) => boolean) => test(path) || (path.length > 1 && path.endsWith('/') && test(path.slice(0, -1)));
  if (kind === 'exact') return orSlash((q) => q === p);
  if (kind === 'glob') {
    const re = p.replace(/\*\*|\*|[^*]/g, (t) => (t === '**' ? '[\\s\\S]*' : t === '*' ? '[^/]*' : `\\u${t.charCodeAt(0).toString(16).padStart(4, '0')}`));
    return orSlash((q) => new RegExp(`^${re}$`).test(q));
  }
  const prefix = p.length > 1 ? p.replace(/\/+$/, '') : p;
  return prefix === '/' || path === prefix || path.startsWith(`${prefix}/`);
}

// ---------------------------------------------------------------------------------------------
// Generators: decoded segments, patterns written from them, and raw spellings of paths.

/** Characters of decoded segments: plain, reserved-but-legal, and ones that must be encoded. */
const CHARS = ['a', 'b', 'x', 'A', 'B', '1', '-', '.', '_', '~', ':', '@', '!', '$', '&', "'", '(', ')', '+', ',', '=', ' ', '%', '?', '#', 'é', '東'];
const NAMES = ['api', 'API', 'apix', 'v1', 'models', 'm:predict', 'admin', 'Admin', 'a@b', 'é'];
const segment = fc
  .oneof(fc.constantFrom(...NAMES), fc.array(fc.constantFrom(...CHARS), { minLength: 1, maxLength: 4 }).map((cs) => cs.join('')))
  .filter((s) => s !== '.' && s !== '..');

/** Characters a path may carry raw (RFC 3986 pchar without `;`), besides `/`. */
const RAW_OK = /^[A-Za-z0-9\-._~!$&'()+,=:@]$/;
const utf8Escapes = (ch: string, lower: boolean) =>
  [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')[lower ? 'toLowerCase' : 'toUpperCase']()}`).join('');

/** A decoded segment as a policy writes it: upper-case escapes where needed, sometimes where not. */
function patternSegment(seg: string, encodeLegal: boolean): string {
  return [...seg].map((ch) => (RAW_OK.test(ch) && !(encodeLegal && /[:@!$&'()+,=]/.test(ch)) ? ch : utf8Escapes(ch, false))).join('');
}

type Kind = 'prefix' | 'glob' | 'exact';
interface Pattern {
  kind: Kind;
  /** As written in the policy. */
  text: string;
}

/** A pattern over segments of `pool`: a prefix, an exact path, or a glob with `*` / `**` / `*suffix`. */
const patternOf = (pool: readonly string[], kinds: readonly Kind[] = ['prefix', 'glob', 'exact']): fc.Arbitrary<Pattern> =>
  fc
    .record({
      kind: fc.constantFrom(...kinds),
      segs: fc.array(fc.constantFrom(...pool), { minLength: 0, maxLength: 3 }),
      encodeLegal: fc.boolean(),
      wildcard: fc.constantFrom('*', '**', '*:predict', '*x'),
      at: fc.nat(),
    })
    .map(({ kind, segs, encodeLegal, wildcard, at }) => {
      const written = segs.map((s) => patternSegment(s, encodeLegal));
      if (kind === 'glob') written.splice(at % (written.length + 1), 0, wildcard);
      if (kind === 'exact' && written.length === 0) written.push('api');
      return { kind, text: `/${written.join('/')}` };
    });

const patternKey = (p: Pattern) => (p.kind === 'exact' ? { path_exact: p.text } : { path: p.text });

/** A decoded path the pattern covers: wildcards filled with pool segments, prefixes deepened, maybe a trailing `/`. */
function pathUnder(p: Pattern, fill: readonly string[], extra: readonly string[], trailing: boolean): string {
  const d = Buffer.from(decodeAll(p.text), 'latin1').toString('utf8');
  const slash = trailing && d !== '/' ? '/' : '';
  if (p.kind === 'exact') return `${d}${slash}`;
  if (p.kind === 'glob') {
    let k = 0;
    const next = () => fill[k++ % fill.length]!;
    return `${d.replace(/\*\*|\*/g, (w) => (w === '**' ? [next(), next()].join('/') : next()))}${slash}`;
  }
  const base = d === '/' ? '' : d;
  const tail = extra.length ? `/${extra.join('/')}` : '';
  return `${base}${tail}${trailing ? '/' : ''}` || '/';
}

/**
 * A raw request target spelling `decoded` (a decoded path): each character raw or
 * percent-encoded in either case, duplicate slashes, dot-segment detours in every spelling, and
 * in a quarter of them, now and then, what Gatehouse must refuse (backslash, `%2F`, `;`
 * parameter, double encoding, raw non-ASCII). `flipCase` also changes the case of a letter now
 * and then, which makes it another path.
 */
function spell(g: fc.GeneratorValue, decoded: string, opts: { flipCase?: boolean } = {}): string {
  const hostile = g(fc.nat, 3) === 0;
  const segs = decoded.split('/').slice(1); // '/' -> ['']; a trailing slash -> a last 
  const dot = () => g(fc.constantFrom, '.', '%2e', '%2E');
  const dotdot = () => g(fc.constantFrom, '..', '%2e%2e', '%2E%2e', '.%2E', '%2e.');
  const sep = () => (hostile && g(fc.nat, 20) === 0 ? g(fc.constantFrom, '\\', '%2f', '/%2F') : g(fc.constantFrom, '/', '/', '/', '//', '///'));
  const out: string[] = [];
  for (const [k, seg] of segs.entries()) {
    const detour = g(fc.nat, 6);
    if (detour === 0) out.push(dot());
    if (detour === 1) out.push(g(fc.constantFrom, 'zz', 'api', 'Admin', 'm:predict'), dotdot());
    if (seg === '' && k === segs.length - 1) {
      out.push(g(fc.nat, 3) === 0 ? dot() : ''); // the trailing slash, or `/.` which means the same
      continue;
    }
    let s = '';
    for (const letter of seg) {
      const ch = opts.flipCase && /[a-z]/i.test(letter) && g(fc.nat, 15) === 0 ? (letter === letter.toLowerCase() ? letter.toUpperCase() : letter.toLowerCase()) : letter;
      const choice = g(fc.nat, 40);
      if (hostile && choice === 0) s += `%25${utf8Escapes(ch, false).slice(1, 3)}`;
      else if (RAW_OK.test(ch) && choice % 2 === 0) s += ch;
      else if (hostile && /[^\x00-\x7f]/.test(ch) && choice % 5 === 1) s += ch;
      else s += utf8Escapes(ch, g(fc.boolean));
    }
    if (hostile && g(fc.nat, 30) === 0) s += ';jsessionid=1';
    out.push(s);
  }
  return out.map((s) => sep() + s).join('');
}

// ---------------------------------------------------------------------------------------------

describe('properties: normalization plus matching admits nothing outside the route and rule', () => {
  const scenario = fc.uniqueArray(segment, { minLength: 2, maxLength: 4 }).chain((pool) =>
    fc.record({
      pool: fc.constant(pool),
      routes: fc.array(
        fc.record({
          pattern: patternOf(pool),
          allow: fc.array(fc.option(fc.array(patternOf(pool, ['prefix', 'glob']), { minLength: 1, maxLength: 2 }), { nil: undefined }), { minLength: 1, maxLength: 2 }),
          deny: fc.array(patternOf(pool, ['prefix', 'glob']), { maxLength: 2 }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      /** The request aims at a route's pattern, at one of its allow rules' paths, or anywhere. */
      aim: fc.record({ route: fc.nat(), at: fc.constantFrom('route', 'route', 'rule', 'anywhere'), rule: fc.nat() }),
      anywhere: patternOf(pool),
      fill: fc.array(fc.constantFrom(...pool), { minLength: 1, maxLength: 3 }),
      extra: fc.array(fc.constantFrom(...pool), { maxLength: 3 }),
      trailing: fc.boolean(),
    }),
  );

  it('an allowed request lies, read independently, inside the route, inside the allowing rule, outside every deny', () => {
    let admitted = 0;
    fc.assert(
      fc.property(scenario, fc.gen(), (s, g) => {
        const configs = s.routes.map((r) => ({
          ...patternKey(r.pattern),
          allow: r.allow.map((paths) => (paths ? { authenticated: true, paths: paths.map((p) => p.text) } : { authenticated: true })),
          deny: r.deny.map((p) => ({ paths: [p.text] })),
        }));
        const table = new RouteTable(compile(configs));
        const aimed = s.routes[s.aim.route % s.routes.length]!;
        const rulePaths = aimed.allow.flatMap((paths) => paths ?? []);
        const target = s.aim.at === 'route' ? aimed.pattern : s.aim.at === 'rule' && rulePaths.length ? rulePaths[s.aim.rule % rulePaths.length]! : s.anywhere;
        const raw = spell(g, pathUnder(target, s.fill, s.extra, s.trailing), { flipCase: true });
        const path = normalized(raw);
        if (path === undefined) return;
        const hit = table.match('h', path, 'GET');
        if (!hit || !('route' in hit)) return;
        const d = evaluate(hit.route, USER, { method: 'GET', path, clientIp: '10.0.0.1' });
        if (!d.allow) return;
        admitted++;
        const ref = referencePath(raw);
        const r = s.routes[hit.route.order]!;
        assert.ok(referenceCovers(r.pattern.text, r.pattern.kind, ref), `route ${r.pattern.text} took ${raw} (reads ${JSON.stringify(ref)})`);
        const paths = r.allow[Number(/^allow\[(\d+)\]$/.exec(d.rule ?? '')?.[1])];
        if (paths) assert.ok(paths.some((p) => referenceCovers(p.text, p.kind, ref)), `${d.rule} paths ${paths.map((p) => p.text)} admitted ${raw} (reads ${JSON.stringify(ref)})`);
        for (const p of r.deny) assert.ok(!referenceCovers(p.text, p.kind, ref), `deny ${p.text} let ${raw} through (reads ${JSON.stringify(ref)})`);
      }),
      run(1000),
    );
    assert.ok(admitted > 150 * SCALE, `only ${admitted} requests admitted: the property checked too little`);
  });

  it('a deny on a path refuses every spelling of every path under it', () => {
    let accepted = 0;
    const deny = fc.uniqueArray(segment, { minLength: 2, maxLength: 4 }).chain((pool) =>
      fc.record({
        pattern: patternOf(pool, ['prefix', 'glob']),
        fill: fc.array(fc.constantFrom(...pool), { minLength: 1, maxLength: 3 }),
        extra: fc.array(fc.constantFrom(...pool), { maxLength: 3 }),
        trailing: fc.boolean(),
      }),
    );
    fc.assert(
      fc.property(deny, fc.gen(), (s, g) => {
        const [route] = compile([{ path: '/', allow: [{ public: true }], deny: [{ paths: [s.pattern.text] }] }]);
        const decoded = pathUnder(s.pattern, s.fill, s.extra, s.trailing);
        const raw = spell(g, decoded);
        const path = normalized(raw);
        if (path === undefined) return; // refused outright (400): refused all the same
        accepted++;
        const d = evaluate(route!, undefined, { method: 'GET', path, clientIp: '10.0.0.1' });
        assert.equal(d.rule, 'deny[0]', `deny ${s.pattern.text} missed ${raw} (normalized ${path}, means ${JSON.stringify(decoded)})`);
      }),
      run(800),
    );
    assert.ok(accepted > 400 * SCALE, `only ${accepted} spellings accepted: the property checked too little`);
  });
});

describe('regressions the properties found', () => {
  const route = compile([{ path: '/', allow: [{ public: true }], deny: [{ paths: ['/v1/models/*:predict', '/users/a@b.com/admin'] }] }])[0]!;
  const decide = (raw: string) => evaluate(route, undefined, { method: 'POST', path: parseRequestTarget(raw).path, clientIp: '10.0.0.1' }).rule;

  it('encoded `:` bypassed a deny: `/v1/models/m%3Apredict` is refused by a deny on `/v1/models/*:predict`', () => {
    assert.equal(parseRequestTarget('/v1/models/m%3apredict').path, '/v1/models/m:predict');
    for (const raw of ['/v1/models/m:predict', '/v1/models/m%3Apredict', '/v1/models/m%3apredict', '/v1/./models/x/../m%3A%70redict']) assert.equal(decide(raw), 'deny[0]', raw);
  });

  it('every encoded sub-delimiter, `:` and `@` is decoded (`a%40b.com` is `a@b.com`), `*` and `;` never', () => {
    assert.equal(decide('/users/a%40b%2Ecom/admin'), 'deny[0]');
    assert.equal(parseRequestTarget("/%21%24%26%27%28%29%2B%2C%3D%3A%40").path, "/!$&'()+,=:@");
    assert.equal(parseRequestTarget('/a%2ab').path, '/a%2Ab', 'a decoded `*` would be a wildcard in a pattern');
  });

  it('a pattern written with an escape requests no longer carry still matches them: `*%3Apredict` is `*:predict`', () => {
    const p = compilePathPattern('/v1/models/*%3Apredict');
    assert.equal(p.text, '/v1/models/*:predict');
    assert.equal(p.test(parseRequestTarget('/v1/models/m%3Apredict').path), true);
    assert.equal(compilePathPattern('/users/a%40b').test('/users/a@b/x'), true);
  });
});

describe('properties: segment boundaries, case, and `*`', () => {
  const words = fc.array(fc.constantFrom('api', 'v1', 'models', 'jobs', 'a', 'b'), { minLength: 1, maxLength: 3 });

  it('a prefix never covers a longer segment (`/api` never admits `/apix`), and covers its sub-paths', () => {
    fc.assert(
      fc.property(words, fc.constantFrom('x', '-1', '.bak', ':predict', '%20', '~'), fc.array(fc.constantFrom('a', 'b'), { maxLength: 2 }), (segs, glued, below) => {
        const prefix = `/${segs.join('/')}`;
        const table = new RouteTable(compile([{ path: prefix }, { path: '/', name: 'fallback' }]));
        const longer = `${prefix}${glued}${below.map((b) => `/${b}`).join('')}`;
        assert.equal(compilePathPattern(prefix).test(longer), false);
        assert.equal((table.match('h', longer, 'GET') as { route: CompiledRoute }).route.order, 1);
        const sub = `${prefix}/${glued}`;
        assert.equal(compilePathPattern(prefix).test(sub), true);
        assert.equal((table.match('h', sub, 'GET') as { route: CompiledRoute }).route.order, 0);
      }),
      run(300),
    );
  });

  it('case is significant in every pattern kind', () => {
    fc.assert(
      fc.property(words, fc.nat(), fc.constantFrom<Kind>('prefix', 'glob', 'exact'), (segs, at, kind) => {
        const text = `/${segs.join('/')}`;
        const i = 1 + (at % (text.length - 1));
        if (!/[a-z]/.test(text[i]!)) return;
        const other = `${text.slice(0, i)}${text[i]!.toUpperCase()}${text.slice(i + 1)}`;
        const pattern = kind === 'glob' ? `${text}/*` : text;
        const path = kind === 'glob' ? `${other}/x` : other;
        assert.equal(compilePathPattern(pattern, kind === 'exact').test(path), false, `${pattern} covered ${path}`);
      }),
      run(300),
    );
  });

  it('`*` never crosses `/`, `**` does', () => {
    const part = fc.stringMatching(/^[a-z0-9:.~-]{1,6}$/);
    fc.assert(
      fc.property(words, part, part, fc.constantFrom('', ':predict', '.json'), (segs, a, b, suffix) => {
        const base = `/${segs.join('/')}`;
        const one = compilePathPattern(`${base}/*${suffix}`);
        const any = compilePathPattern(`${base}/**${suffix}`);
        assert.equal(one.test(`${base}/${a}${suffix}`), true);
        assert.equal(one.test(`${base}/${a}/${b}${suffix}`), false);
        assert.equal(any.test(`${base}/${a}/${b}${suffix}`), true);
      }),
      run(300),
    );
  });
});

describe('properties: the trie agrees with a scan of every route', () => {
  const HOSTS = ['a.example.com', 'a.example.com:8443', '*.example.com', '*.example.com:8443', 'b.a.example.com', '*.a.example.com', '[::1]:4180'];
  const REQUEST_HOSTS = ['a.example.com', 'a.example.com:8443', 'x.example.com', 'x.example.com:8443', 'example.com', 'b.a.example.com', 'c.b.a.example.com', '[::1]:4180', '[::1]', 'other.org'];
  const SEGS = ['api', 'v1', 'models', 'm:predict', 'x'];
  const route = fc.record({
    host: fc.option(fc.constantFrom(...HOSTS), { nil: undefined }),
    pattern: patternOf(SEGS),
    methods: fc.option(fc.subarray(['GET', 'POST', 'DELETE'], { minLength: 1 }), { nil: undefined }),
  });
  const request = fc.record({
    host: fc.constantFrom(...REQUEST_HOSTS),
    segs: fc.array(fc.constantFrom(...SEGS, 'xm:predict', 'other'), { maxLength: 5 }),
    trailing: fc.boolean(),
    method: fc.constantFrom('GET', 'HEAD', 'POST', 'DELETE', 'PUT'),
  });
  const show = (m: RouteMatch | undefined) => (!m ? 'no route' : 'route' in m ? m.route.name : `405 ${[...m.methodNotAllowed].sort().join(',')}`);

  it('same route, same 405 and Allow, same miss, for random route sets and requests', () => {
    fc.assert(
      fc.property(fc.array(route, { minLength: 1, maxLength: 12 }), fc.array(request, { minLength: 1, maxLength: 20 }), (routes, requests) => {
        const compiled = compile(routes.map((r) => ({ ...(r.host ? { host: r.host } : {}), ...patternKey(r.pattern), ...(r.methods ? { methods: r.methods } : {}), allow: [{ authenticated: true }] })));
        const trie = new RouteTable(compiled);
        const scan = new LinearRouteScan(compiled);
        for (const q of requests) {
          const path = `/${q.segs.join('/')}${q.trailing && q.segs.length ? '/' : ''}`;
          assert.equal(show(trie.match(q.host, path, q.method)), show(scan.match(q.host, path, q.method)), `${q.method} ${q.host}${path}`);
        }
      }),
      run(500),
    );
  });
});

describe('properties: normalization is canonical, and refuses what it cannot make canonical', () => {
  it('a backslash, an encoded slash or NUL, a `;` parameter, a double encoding or a raw non-ASCII byte anywhere: refused', () => {
    const token = fc.constantFrom('\\', '%2f', '%2F', '%5C', '%00', ';x=1', '%252e', '%252F', '%25%32%65', 'é', '東');
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 4 }), token, fc.nat(), fc.boolean(), (segs, bad, at, glue) => {
        const clean = `/${segs.map((seg) => patternSegment(seg, false)).join('/')}`;
        const cuts = [...clean.matchAll(/\//g)].map((m) => m.index + 1);
        const i = cuts[at % cuts.length]!;
        const raw = `${clean.slice(0, i)}${bad}${glue ? '' : '/'}${clean.slice(i)}`;
        assert.equal(normalized(raw), undefined, raw);
      }),
      run(300),
    );
  });

  it('an accepted path normalizes to itself and carries no dot segment, empty segment or lower-case escape', () => {
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 5 }), fc.boolean(), fc.gen(), (segs, trailing, g) => {
        const path = normalized(spell(g, `/${segs.join('/')}${trailing && segs.length ? '/' : ''}`));
        if (path === undefined) return;
        assert.equal(normalized(path), path);
        assert.ok(!/\/\/|\/\.\.?(\/|$)|%[0-9A-F]?[a-f]/.test(path), path);
      }),
      run(500),
    );
  });
});
