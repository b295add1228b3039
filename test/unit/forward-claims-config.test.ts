/**
 * `forward_claims` on a route: claim names must be kept by some connection, header names must not
 * be ones clients send themselves, and each claim needs its own header. Problems come with file,
 * line and key, all at once.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../proxy/config/load.js';
import type { ConfigProblem } from '../../proxy/config/problems.js';
import { configProblems } from '../helpers/config-problems.js';

const SECRET = 'test-only-4f9c1e7a2b8d6350a1c9e2f7b4d8a6c3';
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function write(forwardClaims: string, otherRoute = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-fc-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'r.yaml'), `routes:\n  - name: app\n    path: /\n    upstream: "http://127.0.0.1:9"\n    allow: [ { authenticated: true } ]\n    forward_claims: ${forwardClaims}\n${otherRoute}`);
  writeFileSync(
    join(dir, 'gatehouse.yaml'),
    `server:\n  public_url: http://127.0.0.1:4180\nsession:\n  secret: \${SECRET}\nsaml:\n  connections:\n    - id: lab\n      idp_metadata_url: https://idp.example.com/metadata\n      claims: { department: "urn:oid:2.5.4.11" }\npolicies: ["policies/*.yaml"]\n`,
  );
  return join(dir, 'gatehouse.yaml');
}

function problems(file: string): ConfigProblem[] {
  return configProblems(file, { SECRET });
}

describe('route forward_claims', () => {
  test("a claim posing as the user of another route's upstream (same header, another meaning) is refused at the claim", () => {
    const other = '  - name: legacy\n    path: /legacy\n    upstream: "http://127.0.0.1:9"\n    allow: [ { authenticated: true } ]\n    headers: { user: X-Remote-User }\n';
    const found = problems(write('{ department: X-Remote-User }', other));
    assert.ok(found.some((p) => p.key === 'routes[1].headers.user' && /X-Remote-User carries the user here but claim "department" at/.test(p.message)), JSON.stringify(found));
    assert.equal(problems(write('{ department: X-Dept }', other)).length, 0, 'control: distinct headers load');
  });

  test('a kept claim to its own header loads, compiled in order', () => {
    const loaded = loadConfig(write('{ department: X-Forwarded-Department }'), { SECRET });
    assert.deepEqual(loaded.policies[0]!.policy.routes[0]!.forward_claims, { department: 'X-Forwarded-Department' });
  });

  test('a claim no connection keeps is refused at the route, naming the claim', () => {
    const found = problems(write('{ departmnet: X-Forwarded-Department }'));
    assert.equal(found.length, 1, JSON.stringify(found));
    assert.equal(found[0]!.key, 'routes[0].forward_claims.departmnet');
    assert.equal(found[0]!.line, 2);
    assert.match(found[0]!.message, /no connection keeps a claim "departmnet"/);
  });

  for (const [name, yaml, message] of [
    ['a header clients send themselves (Authorization)', '{ department: Authorization }', /clients send themselves/],
    ['two claims to one header', '{ department: X-Dept, team: x-dept }', /its own header/],
    ['a header name with a space', '{ department: "X Dept" }', /letters, digits and dashes/],
    ['a claim posing as the client address (X-Forwarded-For)', '{ department: X-Forwarded-For }', /forwarding header Gatehouse sets itself/],
    ['a claim posing as the request id (x_request_id)', '{ department: x_request_id }', /forwarding header Gatehouse sets itself/],
    ['a claim posing as the user on the same route (X-Forwarded-User)', '{ department: X-Forwarded-User }', /already carries the user on this route/],
  ] as const) {
    test(`refused: ${name}`, () => {
      const found = problems(write(yaml));
      assert.ok(found.some((p) => p.key.startsWith('routes[0].forward_claims') && message.test(p.message)), JSON.stringify(found));
    });
  }
});
