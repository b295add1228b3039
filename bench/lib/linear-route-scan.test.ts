import assert from 'node:assert/strict';
import { test } from 'node:test';
import { policyFileSchema } from '../../proxy/config/policy-schema.js';
import { compileRoutes } from '../../proxy/policy/compile.js';
import { hostTier, LinearRouteScan, splitHost } from './linear-route-scan.js';

test('splitHost: name, port and wildcard, IPv6 brackets kept', () => {
  assert.deepEqual(splitHost('a.example.com:8443'), { wildcard: false, name: 'a.example.com', port: '8443' });
  assert.deepEqual(splitHost('*.example.com'), { wildcard: true, name: 'example.com', port: '' });
  assert.deepEqual(splitHost('[::1]:4180'), { wildcard: false, name: '[::1]', port: '4180' });
  assert.deepEqual(splitHost('[::1]'), { wildcard: false, name: '[::1]', port: '' });
});

test('hostTier: exact host:port, host on any port, wildcard with port, wildcard, any host', () => {
  const tier = (route: string | undefined, request: string) => hostTier(route === undefined ? undefined : splitHost(route), splitHost(request));
  assert.equal(tier('a.example.com:8443', 'a.example.com:8443'), 0);
  assert.equal(tier('a.example.com', 'a.example.com:8443'), 1);
  assert.equal(tier('*.example.com:8443', 'a.example.com:8443'), 2);
  assert.equal(tier('*.example.com', 'a.example.com'), 3);
  assert.equal(tier(undefined, 'anything'), 4);
  assert.equal(tier('a.example.com:8443', 'a.example.com'), -1);
  assert.equal(tier('*.example.com', 'b.a.example.com'), -1, 'one label only');
  assert.equal(tier('*.example.com', 'example.com'), -1);
  assert.equal(tier('*.example.com', 'evilexample.com'), -1);
});

test('the scan picks the most specific route and answers 405 with every method', () => {
  const policy = policyFileSchema.parse({
    routes: [
      { name: 'any', path: '/api', methods: ['POST'], upstream: 'http://127.0.0.1:1/', allow: [{ authenticated: true }] },
      { name: 'wild', host: '*.example.com', path: '/api', methods: ['GET'], upstream: 'http://127.0.0.1:1/', allow: [{ authenticated: true }] },
      { name: 'deep', host: '*.example.com', path: '/api/v1/*', upstream: 'http://127.0.0.1:1/', allow: [{ authenticated: true }] },
    ],
  });
  const scan = new LinearRouteScan(compileRoutes([{ file: 't.yaml', policy, routeLines: [1, 2, 3] }]));
  const name = (host: string, path: string, method: string) => {
    const m = scan.match(host, path, method);
    return !m ? undefined : 'route' in m ? m.route.name : m.methodNotAllowed.join(',');
  };
  assert.equal(name('a.example.com', '/api/v1/x', 'DELETE'), 'deep');
  assert.equal(name('a.example.com', '/api/x', 'GET'), 'wild');
  assert.equal(name('a.example.com', '/api/x', 'POST'), 'any');
  assert.equal(name('a.example.com', '/api/x', 'PUT'), 'GET,HEAD,POST');
  assert.equal(name('a.example.com', '/other', 'GET'), undefined);
});
