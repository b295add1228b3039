import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isGatehouseError } from '../../proxy/errors.js';
import { parseIdpMetadata } from '../../proxy/saml/idp-metadata.js';
import { MIN_REFRESH_MS, nextRefreshDelay, RETRY_BASE_MS } from '../../proxy/saml/metadata-schedule.js';
import { parseXsDateTime, parseXsDuration } from '../../proxy/saml/metadata-validity.js';
import { metadataXml } from '../helpers/metadata-signer.js';
import { IDP_KEYS } from '../helpers/test-keys.js';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 0, 1);
const base = { intervalMs: HOUR, failures: 0, nowMs: NOW, random: 0 };

describe('refresh schedule', () => {
  test('the configured interval when the metadata says nothing', () => assert.equal(nextRefreshDelay(base), HOUR));
  test('a shorter cacheDuration wins', () => assert.equal(nextRefreshDelay({ ...base, cacheDurationMs: 10 * 60_000 }), 10 * 60_000));
  test('a longer cacheDuration does not stretch the interval', () => assert.equal(nextRefreshDelay({ ...base, cacheDurationMs: 24 * HOUR }), HOUR));
  test('hammering: a tiny cacheDuration is floored at one minute', () => assert.equal(nextRefreshDelay({ ...base, cacheDurationMs: 1 }), MIN_REFRESH_MS));
  test('validUntil close: refresh at half the time left', () => assert.equal(nextRefreshDelay({ ...base, validUntil: NOW + 20 * 60_000 }), 10 * 60_000));
  test('validUntil about to pass: still not sooner than the floor', () => assert.equal(nextRefreshDelay({ ...base, validUntil: NOW + 1000 }), MIN_REFRESH_MS));
  test('after failures: back off from 30 s, doubling, capped by the normal delay', () => {
    assert.deepEqual([1, 2, 3, 10].map((failures) => nextRefreshDelay({ ...base, failures })), [RETRY_BASE_MS, 2 * RETRY_BASE_MS, 4 * RETRY_BASE_MS, HOUR]);
  });
  test('jitter takes at most 10 % off, never adds', () => {
    assert.equal(nextRefreshDelay({ ...base, random: 0.999999 }), Math.round(HOUR * (1 - 0.0999999)));
    assert.ok(nextRefreshDelay({ ...base, random: 0.5 }) < HOUR);
  });
});

describe('validUntil and cacheDuration', () => {
  test('xs:duration values', () => {
    assert.equal(parseXsDuration('PT6H'), 6 * HOUR);
    assert.equal(parseXsDuration('P1DT12H'), 36 * HOUR);
    assert.equal(parseXsDuration('PT1M30.5S'), 90_500);
    assert.equal(parseXsDuration('P1M'), 30 * 24 * HOUR);
    assert.equal(parseXsDuration('-PT5M'), 0);
  });
  for (const bad of ['', 'P', 'PT', '6H', 'P1H', 'PT1D', 'forever']) {
    test(`xs:duration refused: "${bad}"`, () => assert.throws(() => parseXsDuration(bad), (e) => isGatehouseError(e) && e.reason === 'metadata-bad-cache-duration'));
  }
  test('xs:dateTime needs a time zone (an instant must not depend on ours)', () => {
    assert.equal(parseXsDateTime('2026-01-01T00:00:00Z'), NOW);
    assert.equal(parseXsDateTime('2026-01-01T01:00:00.000+01:00'), NOW);
    assert.throws(() => parseXsDateTime('2026-01-01T00:00:00'), (e) => isGatehouseError(e) && e.reason === 'metadata-bad-valid-until');
  });
  test('the strictest validUntil and cacheDuration on the way to the root are used', () => {
    const entity = metadataXml({ entityId: 'https://idp.example/md', ssoUrl: 'https://idp.example/sso', certBase64s: [IDP_KEYS.certBase64], validUntil: '2026-03-01T00:00:00Z', cacheDuration: 'PT6H' })
      .replace('<md:IDPSSODescriptor', '<md:IDPSSODescriptor validUntil="2026-02-01T00:00:00Z"');
    const aggregate = `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" cacheDuration="PT2H" validUntil="2026-06-01T00:00:00Z">${entity}</md:EntitiesDescriptor>`;
    const md = parseIdpMetadata(aggregate);
    assert.equal(md.validUntil, Date.UTC(2026, 1, 1));
    assert.equal(md.cacheDurationMs, 2 * HOUR);
  });
  test('metadata without them has neither', () => {
    const md = parseIdpMetadata(metadataXml({ entityId: 'https://idp.example/md', ssoUrl: 'https://idp.example/sso', certBase64s: [IDP_KEYS.certBase64] }));
    assert.equal(md.validUntil, undefined);
    assert.equal(md.cacheDurationMs, undefined);
  });
});
