import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RequestLog } from '../../proxy/request-log.js';
import { captureLogs } from '../helpers/log-capture.js';

describe('RequestLog: per-request records in the logger shape', () => {
  test('access and decision lines are valid JSON with the same envelope as pino lines', () => {
    const logs = captureLogs();
    const requests = new RequestLog(logs.log);
    logs.log.info({ event: 'startup' }, 'hello');
    requests.access({ requestId: 'r1', method: 'GET', host: 'h:1', path: '/a"b\\c\n', status: 200, durationMs: 1.5, route: 'ml', user: 'zoë@example.com' });
    requests.decision({ requestId: 'r1', route: 'ml', user: 'u', allow: false, reasons: ['groups-unauthorized'], rule: undefined });
    requests.flush();
    const [pinoLine, access, decision] = logs.lines;
    assert.deepEqual(Object.keys(access!).slice(0, 4), Object.keys(pinoLine!).slice(0, 4), 'level, time, svc, event first, as pino writes them');
    assert.equal(access!.level, pinoLine!.level);
    assert.equal(access!.path, '/a"b\\c\n', 'escaped, so a crafted path cannot forge fields or lines');
    assert.equal(access!.user, 'zoë@example.com');
    assert.equal(access!.code, undefined);
    assert.equal(decision!.decision, 'deny');
    assert.deepEqual(decision!.reasons, ['groups-unauthorized']);
    assert.equal(logs.lines.length, 3, 'log injection: a newline in a field stays inside its line');
  });

  test('nothing is written when info is off', () => {
    const logs = captureLogs();
    logs.log.level = 'warn';
    const requests = new RequestLog(logs.log);
    requests.access({ requestId: 'r', method: 'GET', host: 'h', path: '/', status: 200, durationMs: 1 });
    requests.flush();
    assert.equal(logs.lines.length, 0);
  });
});
