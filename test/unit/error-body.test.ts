/**
 * The JSON error body and the 401 challenge (server/error-body.ts): one shape for plain requests
 * and refused websocket handshakes, which scripts and `gatehouse` CLIs read field by field.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { authenticateHeader, errorBody } from '../../proxy/server/error-body.js';

const ISSUER = 'https://gate.example.com';
const LOGIN = 'https://gate.example.com/.gatehouse/saml/okta/login?rd=%2Fml';

describe('errorBody', () => {
  it('a 401 names the browser login, the CLI command and the discovery document, in a fixed order', () => {
    assert.equal(
      JSON.stringify(errorBody('AUTHENTICATION_REQUIRED', { requestId: 'r1', loginUrl: LOGIN, issuer: ISSUER })),
      '{"error":{"code":"AUTHENTICATION_REQUIRED","message":"Sign-in is required.","request_id":"r1",' +
        `"login_url":"${LOGIN}","login":{"browser":"${LOGIN}","cli":"gatehouse login ${ISSUER}","configuration":"${ISSUER}/.well-known/gatehouse/configuration"}}}`,
    );
  });

  it('a 401 with no place to return to still says how a CLI signs in; without an issuer, no hint', () => {
    assert.deepEqual(errorBody('TOKEN_INVALID', { requestId: 'r2', issuer: ISSUER }).error.login, { cli: `gatehouse login ${ISSUER}`, configuration: `${ISSUER}/.well-known/gatehouse/configuration` });
    assert.equal(errorBody('AUTHENTICATION_REQUIRED', { requestId: 'r3' }).error.login, undefined);
  });

  it('a 403 carries the reason and granting groups it is given, and never a login hint', () => {
    assert.equal(
      JSON.stringify(errorBody('ACCESS_DENIED', { requestId: 'r4', reason: 'groups-unauthorized', issuer: ISSUER, grantingGroups: ['ml-engineers'] })),
      '{"error":{"code":"ACCESS_DENIED","message":"You do not have access to this resource.","request_id":"r4","reason":"groups-unauthorized","granting_groups":["ml-engineers"]}}',
    );
  });

  it('anonymous refusals reveal nothing the caller did not pass (no reason, no empty groups)', () => {
    assert.deepEqual(Object.keys(errorBody('ACCESS_DENIED', { requestId: 'r5', grantingGroups: [] }).error), ['code', 'message', 'request_id']);
  });
});

describe('authenticateHeader', () => {
  it('a 401 gets a Bearer challenge with the login URL; a refused token is invalid_token (RFC 6750 3.1)', () => {
    assert.equal(authenticateHeader('AUTHENTICATION_REQUIRED', LOGIN), `Bearer realm="gatehouse", login_url="${LOGIN}"`);
    assert.equal(authenticateHeader('TOKEN_INVALID', undefined), 'Bearer realm="gatehouse", error="invalid_token"');
  });

  it('header injection through the login URL: a quote cannot end the parameter', () => {
    assert.equal(authenticateHeader('STEP_UP_REQUIRED', 'https://g/x?rd="a", realm="evil'), 'Bearer realm="gatehouse", login_url="https://g/x?rd=%22a%22, realm=%22evil"');
  });

  it('anything but a 401 carries no challenge', () => {
    for (const code of ['ACCESS_DENIED', 'CSRF_REJECTED', 'ROUTE_NOT_FOUND', 'INTERNAL'] as const) assert.equal(authenticateHeader(code, LOGIN), undefined, code);
  });
});
