import assert from 'node:assert/strict';
import { test } from 'node:test';
import { policyFileSchema } from '../../proxy/config/policy-schema.js';
import { compilePathPattern } from '../../proxy/policy/path-pattern.js';
import { rng } from '../../test/helpers/prng.js';
import { generateRequests, generateRoutes, pathInside, serviceHost } from './route-gen.js';

test('generateRoutes: exactly the count, unique names, valid policy, same seed same routes', () => {
  for (const n of [1, 10, 300]) {
    const routes = generateRoutes(n, 7);
    assert.equal(routes.length, n);
    assert.equal(new Set(routes.map((r) => r.name)).size, n);
    assert.doesNotThrow(() => policyFileSchema.parse({ routes }));
  }
  assert.deepEqual(generateRoutes(50, 7), generateRoutes(50, 7));
  assert.notDeepEqual(generateRoutes(50, 7), generateRoutes(50, 8));
  assert.deepEqual(generateRoutes(300, 7).slice(0, 10), generateRoutes(10, 7), 'a larger set extends a smaller one');
});

test('serviceHost: exact names, one wildcard in four, a port on every fifth', () => {
  assert.equal(serviceHost('tf', 0), 'tf-0.team-0.ml.example.com');
  assert.equal(serviceHost('tf', 3), '*.tf-3.team-3.ml.example.com');
  assert.equal(serviceHost('tf', 4), 'tf-4.team-4.ml.example.com:8443');
});

test('pathInside: the path lies inside the route pattern', () => {
  const next = rng(1);
  for (const route of generateRoutes(200, 3)) {
    const path = pathInside(route, next);
    const exact = typeof route.path_exact === 'string';
    const pattern = compilePathPattern(exact ? (route.path_exact as string) : ((route.path as string | undefined) ?? '/'), exact);
    assert.ok(pattern.test(path), `${pattern.text} should cover ${path}`);
  }
});

test('generateRequests: the count asked, deterministic, every host concrete', () => {
  const routes = generateRoutes(100, 7);
  const a = generateRequests(routes, 500, 1);
  assert.equal(a.length, 500);
  assert.deepEqual(a, generateRequests(routes, 500, 1));
  assert.ok(a.every((r) => !r.host.includes('*') && r.path.startsWith('/')));
});
