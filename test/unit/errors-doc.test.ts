/**
 * Callers branch on error codes, so docs/errors.md must list exactly the codes in ERRORS, each
 * with its HTTP status, as a table row `| \`CODE\` | STATUS | ...`. This test keeps the two true.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { ERRORS, type ErrorCode } from '../../proxy/errors.js';

const DOC = new URL('../../docs/errors.md', import.meta.url);
const ROW = /^\| `([A-Za-z0-9_]+)` \|/;

function docLines(): string[] {
  assert.ok(existsSync(DOC), `docs/errors.md is missing: it must list every code of proxy/errors.ts (${Object.keys(ERRORS).length} codes)`);
  return readFileSync(DOC, 'utf8').split(/\r?\n/);
}

describe('docs/errors.md', () => {
  it('has a row "| `CODE` | STATUS |" for every code in ERRORS', () => {
    const lines = docLines();
    const missing = (Object.keys(ERRORS) as ErrorCode[])
      .map((code) => `| \`${code}\` | ${ERRORS[code].status} |`)
      .filter((row) => !lines.some((line) => line.startsWith(row)));
    assert.deepEqual(missing, [], 'rows missing or with the wrong status');
  });

  it('lists only codes that exist in ERRORS, each once', () => {
    const documented = docLines().flatMap((line) => ROW.exec(line)?.[1] ?? []);
    assert.ok(documented.length > 0, 'no code rows found');
    assert.deepEqual(documented.filter((code) => !Object.hasOwn(ERRORS, code)), [], 'documented codes that ERRORS does not have');
    assert.deepEqual(documented.filter((code, i) => documented.indexOf(code) !== i), [], 'codes documented twice');
  });
});
