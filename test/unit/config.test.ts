/**
 * Config loading: every problem is reported at once with its file, line and key path (a typo in
 * a security setting must never be silently ignored), `${ENV}` is substituted on the parsed tree
 * (a value cannot inject YAML), and unsafe setups are refused: the demo IdP outside demo mode,
 * short or placeholder session secrets, ambiguous secret sources.
 * Fixtures: test/fixtures/config/. Secrets are passed as env here, never written in the YAML.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { runCheck } from '../../proxy/cli/check.js';
import { loadConfig } from '../../proxy/config/load.js';
import { ConfigError, type ConfigProblem } from '../../proxy/config/problems.js';

const DIR = new URL('../fixtures/config/', import.meta.url).pathname;
const fixture = (name: string) => join(DIR, name);
/** A test-only value, passed as env exactly as a deployment would. */
const SECRET = 'test-only-4f9c1e7a2b8d6350a1c9e2f7b4d8a6c3';
const ENV = { GATEHOUSE_SESSION_SECRET: SECRET };

/** The file name as the loader shows it (relative to the working directory when below it). */
function shown(name: string): string {
  const rel = relative(process.cwd(), fixture(name));
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : fixture(name);
}

/** Loads a fixture expecting failure; returns the problems. */
function problemsOf(name: string, env: NodeJS.ProcessEnv): ConfigProblem[] {
  try {
    loadConfig(fixture(name), env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'CONFIG_INVALID');
    return err.problems;
  }
  assert.fail(`${name} loaded without problems`);
}

interface Expected {
  what: string;
  file: string;
  line: number;
  key: string;
  message: RegExp;
}

/** Asserts every expected problem is among `problems`, naming all the missing ones at once. */
function assertHasAll(problems: ConfigProblem[], expected: Expected[]): void {
  const missing = expected.filter((e) => !problems.some((p) => p.file === shown(e.file) && p.line === e.line && p.key === e.key && e.message.test(p.message)));
  assert.deepEqual(
    missing.map((m) => `${m.what}: ${shown(m.file)}:${m.line} ${m.key}`),
    [],
    `reported:\n${problems.map((p) => `  ${p.file}:${p.line} ${p.key}: ${p.message}`).join('\n')}`,
  );
}

const CONFIG_PROBLEMS: Expected[] = [
  { what: 'unknown key', file: 'broken/gatehouse.yaml', line: 4, key: 'server.listen_port', message: /^unknown key$/ },
  { what: 'wrong type', file: 'broken/gatehouse.yaml', line: 5, key: 'server.max_header_bytes', message: /expected number/ },
  { what: 'bad duration', file: 'broken/gatehouse.yaml', line: 8, key: 'session.idle_timeout', message: /"30 minutes" is not a duration/ },
  { what: 'missing env var', file: 'broken/gatehouse.yaml', line: 12, key: 'saml.connections[0].idp_metadata_url', message: /environment variable LAB_METADATA_URL is not set/ },
];
const CROSS_PROBLEMS: Expected[] = [
  { what: 'unknown key in a policy route', file: 'broken/policies/c.yaml', line: 6, key: 'routes[0].upstream_timeout', message: /^unknown key$/ },
  { what: 'duplicate route name across files', file: 'broken/policies/b.yaml', line: 8, key: 'routes[1].name', message: /route name "notebooks" already used at .*broken[/\\]policies[/\\]a\.yaml:3/ },
];

describe('loadConfig: every problem at once, located', () => {
  it('reports all problems of a broken setup together: config schema, env, cross-key and policy files', () => {
    const problems = problemsOf('broken/gatehouse.yaml', ENV);
    assertHasAll(problems, [
      ...CONFIG_PROBLEMS,
      { what: 'duplicate connection id', file: 'broken/gatehouse.yaml', line: 13, key: 'saml.connections[1].id', message: /duplicate connection id "lab"/ },
      ...CROSS_PROBLEMS,
    ]);
  });

  it('reports each schema and env problem of the config with its line and key', () => {
    assertHasAll(problemsOf('broken/gatehouse.yaml', ENV), CONFIG_PROBLEMS);
  });

  it('reports cross-key and cross-file problems of a schema-valid config with their line and key', () => {
    assertHasAll(problemsOf('broken/semantics-only.yaml', ENV), [
      { what: 'duplicate connection id', file: 'broken/semantics-only.yaml', line: 11, key: 'saml.connections[1].id', message: /duplicate connection id "lab"/ },
      ...CROSS_PROBLEMS,
    ]);
  });

  it('lines are 1-based and every problem names its file', () => {
    for (const p of problemsOf('broken/gatehouse.yaml', ENV)) {
      assert.ok(p.line >= 1, `${p.key}: line ${p.line}`);
      assert.ok(p.file.endsWith('.yaml'), p.file);
    }
  });
});

describe('loadConfig: a valid config', () => {
  it('loads with defaults and its policies', () => {
    const loaded = loadConfig(fixture('valid/gatehouse.yaml'), ENV);
    assert.equal(loaded.config.session.secret, SECRET);
    assert.equal(loaded.config.session.idle_timeout, 30 * 60_000);
    assert.equal(loaded.config.session.max_lifetime, 12 * 3_600_000);
    assert.equal(loaded.config.server.max_header_bytes, 32_768);
    assert.equal(loaded.config.demo, false);
    assert.deepEqual(loaded.policies.map((p) => p.policy.routes.map((r) => r.name)), [['notebooks', 'public-docs']]);
    assert.deepEqual(loaded.policies[0]?.routeLines, [3, 10]);
  });
});

describe('loadConfig: ${ENV} substitution', () => {
  const cases: Array<[string, NodeJS.ProcessEnv, string, string]> = [
    // [name, extra env, public_url, display_name]
    ['${VAR:-default} uses the default when unset', {}, 'http://127.0.0.1:4180/', 'Lab IdP'],
    ['${VAR:-default} uses the default when empty', { GATEHOUSE_PUBLIC_URL: '', LAB_DISPLAY_NAME: '' }, 'http://127.0.0.1:4180/', 'Lab IdP'],
    ['${VAR:-default} uses the variable when set', { GATEHOUSE_PUBLIC_URL: 'https://gate.example.com', LAB_DISPLAY_NAME: 'Lab' }, 'https://gate.example.com/', 'Lab'],
    ['a value is not expanded twice', { LAB_DISPLAY_NAME: '${GATEHOUSE_SESSION_SECRET}' }, 'http://127.0.0.1:4180/', '${GATEHOUSE_SESSION_SECRET}'],
  ];
  for (const [name, extra, publicUrl, displayName] of cases) {
    it(name, () => {
      const { config } = loadConfig(fixture('valid/gatehouse.yaml'), { ...ENV, ...extra });
      assert.equal(config.server.public_url, publicUrl);
      assert.equal(config.saml.connections[0]?.display_name, displayName);
    });
  }

  it('a value with YAML syntax stays one plain string (config injection through env)', () => {
    const evil = 'Lab\nserver:\n  public_url: http://evil.example\n- &a [*a]\n!!js/function "x"\n"}: {demo: true}';
    const { config } = loadConfig(fixture('valid/gatehouse.yaml'), { ...ENV, LAB_DISPLAY_NAME: evil });
    assert.equal(config.saml.connections[0]?.display_name, evil);
    assert.equal(config.server.public_url, 'http://127.0.0.1:4180/');
    assert.equal(config.demo, false);
  });

  it('the environment is the one passed in, not process.env', () => {
    const problems = problemsOf('valid/gatehouse.yaml', {});
    assertHasAll(problems, [
      { what: 'missing secret env', file: 'valid/gatehouse.yaml', line: 8, key: 'session.secret', message: /environment variable GATEHOUSE_SESSION_SECRET is not set/ },
    ]);
  });

  it('an empty variable counts as unset (no empty secret)', () => {
    assertHasAll(problemsOf('valid/gatehouse.yaml', { GATEHOUSE_SESSION_SECRET: '' }), [
      { what: 'empty secret env', file: 'valid/gatehouse.yaml', line: 8, key: 'session.secret', message: /GATEHOUSE_SESSION_SECRET is not set/ },
    ]);
  });
});

describe('loadConfig: session secret', () => {
  const refused: Array<[string, string, RegExp]> = [
    ['a short secret (brute-forceable session keys)', 'too-short-0123456789', /at least 32 characters/],
    ['the placeholder changeme', 'changeme-changeme-changeme-changeme-1', /looks like a placeholder/],
    ['the placeholder change_me', 'please_change_me_please_change_me_123', /looks like a placeholder/],
    ['a placeholder with example', 'example-session-secret-0123456789abcdef', /looks like a placeholder/],
    ['a secret of one repeated character', 'x'.repeat(48), /looks like a placeholder/],
    ['the word secret, repeated', 'secretsecretsecretsecretsecretsecret', /looks like a placeholder/],
  ];
  for (const [name, secret, message] of refused) {
    it(`refuses ${name}`, () => {
      assertHasAll(problemsOf('valid/gatehouse.yaml', { GATEHOUSE_SESSION_SECRET: secret }), [
        { what: name, file: 'valid/gatehouse.yaml', line: 8, key: 'session.secret', message },
      ]);
    });
  }

  function withSecretFile<T>(content: string | undefined, fn: (path: string) => T): T {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-secret-'));
    const path = join(dir, 'session.secret');
    if (content !== undefined) writeFileSync(path, content, { mode: 0o600 });
    try {
      return fn(path);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const files: Array<[string, string, string]> = [
    ['trailing newline dropped', `${SECRET}\n`, SECRET],
    ['trailing CRLF dropped', `${SECRET}\r\n`, SECRET],
    ['no trailing newline', SECRET, SECRET],
    ['only one trailing newline dropped', `${SECRET}\n\n`, `${SECRET}\n`],
  ];
  for (const [name, content, expected] of files) {
    it(`reads secret_file: ${name}`, () => {
      withSecretFile(content, (path) => {
        const { config } = loadConfig(fixture('secret-file.yaml'), { GATEHOUSE_SESSION_SECRET_FILE: path });
        assert.equal(config.session.secret, expected);
      });
    });
  }

  it('reports an unreadable secret_file at its line', () => {
    withSecretFile(undefined, (path) => {
      assertHasAll(problemsOf('secret-file.yaml', { GATEHOUSE_SESSION_SECRET_FILE: path }), [
        { what: 'missing secret file', file: 'secret-file.yaml', line: 5, key: 'session.secret_file', message: /cannot read secret file/ },
      ]);
    });
  });

  it('refuses both secret and secret_file (which one wins would be a guess)', () => {
    withSecretFile(`${SECRET}\n`, (path) => {
      assertHasAll(problemsOf('secret-and-secret-file.yaml', { ...ENV, GATEHOUSE_SESSION_SECRET_FILE: path }), [
        { what: 'both', file: 'secret-and-secret-file.yaml', line: 6, key: 'session.secret_file', message: /set either secret or secret_file, not both/ },
      ]);
    });
  });
});

describe('loadConfig: demo IdP', () => {
  it('refuses the demo IdP without demo: true (anyone could sign in as anyone)', () => {
    assertHasAll(problemsOf('demo-idp-refused.yaml', ENV), [
      { what: 'demo idp', file: 'demo-idp-refused.yaml', line: 9, key: 'saml.connections[0].demo_idp', message: /refuses to run unless `demo: true`/ },
    ]);
  });

  it('accepts the demo IdP with demo: true, without a session secret', () => {
    const { config } = loadConfig(fixture('demo-idp-demo.yaml'), {});
    assert.equal(config.demo, true);
    assert.equal(config.session.secret, undefined);
    assert.deepEqual(config.saml.connections[0]?.demo_idp?.users.map((u) => u.name), ['alice']);
  });
});

/** Collects what is written; enough of a WritableStream for runCheck. */
function sink(): { stream: NodeJS.WritableStream; text: () => string } {
  const chunks: string[] = [];
  const stream = { write: (chunk: string) => (chunks.push(String(chunk)), true) } as unknown as NodeJS.WritableStream;
  return { stream, text: () => chunks.join('') };
}

/** runCheck reads process.env (it takes no env argument), so the secret is set around the call. */
function withProcessEnv<T>(vars: Record<string, string>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('gatehouse check (runCheck)', () => {
  it('exits 1 and prints every problem as "file:line key: message", then a count', async () => {
    const out = sink();
    const err = sink();
    const code = await withProcessEnv(ENV, () => runCheck(fixture('broken/gatehouse.yaml'), out.stream, err.stream));
    assert.equal(code, 1);
    assert.equal(out.text(), '');
    const lines = err.text().trimEnd().split('\n');
    const summary = lines.pop();
    assert.match(summary ?? '', /^(\d+) problem\(s\) found$/);
    assert.equal(Number(/^\d+/.exec(summary ?? '')?.[0]), lines.length);
    assert.ok(lines.length >= CONFIG_PROBLEMS.length, err.text());
    for (const line of lines) assert.match(line, /^[^\s:]+\.yaml:[1-9]\d* [\w.[\]]+: \S.*$/, line);
    assert.ok(lines.includes(`${shown('broken/gatehouse.yaml')}:4 server.listen_port: unknown key`), err.text());
  });

  it('exits 0 on the valid fixture and says what it loaded', async () => {
    const out = sink();
    const err = sink();
    const code = await withProcessEnv(ENV, () => runCheck(fixture('valid/gatehouse.yaml'), out.stream, err.stream, { offline: true }));
    assert.equal(err.text(), '');
    assert.equal(code, 0);
    // The group-name lint has no record to read (no saml.groups_seen_file) and says so first.
    assert.match(out.text(), /^info: group-name lint skipped: .+\nok: .*valid[/\\]gatehouse\.yaml: 1 connection\(s\), 1 policy file\(s\), 2 route\(s\)\n$/);
  });
});

describe('cross-file: policies name connections that exist', () => {
  it('a rule naming an unknown connection is reported with its file, line and key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-conn-'));
    try {
      mkdirSync(join(dir, 'policies'));
      writeFileSync(join(dir, 'gatehouse.yaml'), [
        'server: { public_url: "http://127.0.0.1:4180" }',
        'session: { secret: "${GATEHOUSE_SESSION_SECRET}" }',
        'saml:',
        '  connections:',
        '    - { id: lab, idp_metadata_url: "https://idp.example.com/md" }',
        'policies: ["policies/*.yaml"]',
        '',
      ].join('\n'));
      writeFileSync(join(dir, 'policies', 'p.yaml'), [
        'routes:',
        '  - name: r',
        '    upstream: http://127.0.0.1:9',
        '    allow: [ { connections: [okta], groups: [admins] } ]',
        '',
      ].join('\n'));
      assert.throws(() => loadConfig(join(dir, 'gatehouse.yaml'), { GATEHOUSE_SESSION_SECRET: 'q7Wc2Lx9Rv4Tb8Nm1Zp6Yh3Jk5Df0Gs' }), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const p = err.problems.find((x) => x.key === 'routes[0].allow[0].connections');
        assert.ok(p, JSON.stringify(err.problems));
        assert.equal(p.line, 2);
        assert.match(p.message, /no connection "okta"/);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('messages a person can act on', () => {
  it('a missing key says required; a bare number for a duration asks for its unit; an unmatched glob points at the config line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-msg-'));
    try {
      writeFileSync(join(dir, 'g.yaml'), 'server: {}\nsession: { secret: "${S}", idle_timeout: 30 }\nsaml: { connections: [ { id: lab, idp_metadata_url: "https://idp.example/md" } ] }\npolicies: ["nope/*.yaml"]\n');
      assert.throws(() => loadConfig(join(dir, 'g.yaml'), { S: 'k3Jd8Lq2Mv7Xp4Rt9Wz1Nb6Hc5Gf0Sa2Ye' }), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const by = (key: string) => err.problems.find((p) => p.key === key);
        assert.equal(by('server.public_url')?.message, 'required');
        assert.match(by('session.idle_timeout')?.message ?? '', /a duration such as .* \(with its unit\)/);
        assert.equal(by('policies')?.line, 4);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
