/** The pieces of the CLI client that need no Gatehouse: PKCE, the loopback listener, argument and address checks. */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { parseCurlArgs, unambiguousHost } from '../../proxy/cli/curl-args.js';
import { startLoopbackCallback } from '../../proxy/cli/loopback-callback.js';
import { browserCommand, isHeadless } from '../../proxy/cli/open-browser.js';
import { createPkce, createState, s256 } from '../../proxy/cli/pkce.js';
import { readCode } from '../../proxy/cli/read-code.js';
import { isLoopbackHost } from '../../proxy/cli/token-client.js';
import { printable } from '../../proxy/cli/printable.js';
import { formatTable } from '../../proxy/cli/table.js';
import { parseListen, refusal } from '../../proxy/cli/tunnel-guard.js';

function get(url: string, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: host ? { host } : {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('PKCE and state', () => {
  it('S256 matches RFC 7636 appendix B', () => {
    assert.equal(s256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });
  it('a verifier is 32 random bytes (43 characters), fresh every time, never sent as the challenge', () => {
    const a = createPkce();
    const b = createPkce();
    assert.match(a.verifier, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a.verifier, b.verifier);
    assert.equal(a.challenge, s256(a.verifier));
    assert.notEqual(a.challenge, a.verifier);
    assert.notEqual(createState(), createState());
  });
});

describe('loopback callback listener', () => {
  it('login CSRF on the loopback callback: a callback with another state is refused, the right one accepted once, then it closes', async () => {
    const warnings: string[] = [];
    const cb = await startLoopbackCallback('right-state', { timeoutMs: 10_000, warn: (l) => warnings.push(l) });
    assert.match(cb.redirectUri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    const forged = await get(`${cb.redirectUri}?code=attacker-code&state=wrong-state`);
    assert.equal(forged.status, 400);
    assert.match(forged.body, /state mismatch/);
    assert.match(warnings.join('\n'), /state does not match/);
    const nostate = await get(`${cb.redirectUri}?code=attacker-code`);
    assert.equal(nostate.status, 400);
    assert.equal((await get(cb.redirectUri.replace('/callback', '/other?state=right-state&code=x'))).status, 404);
    const ok = await get(`${cb.redirectUri}?code=the-code&state=right-state`);
    assert.equal(ok.status, 200);
    assert.match(ok.body, /close this tab/);
    assert.equal(await cb.code, 'the-code', 'the code of the right callback, not the forged one');
    await assert.rejects(get(`${cb.redirectUri}?code=second&state=right-state`), /ECONNREFUSED/, 'closed after the one callback');
  });

  it('listens on 127.0.0.1 only, not on other addresses of this computer', async () => {
    const cb = await startLoopbackCallback('s', { timeoutMs: 10_000, warn: () => undefined });
    const port = new URL(cb.redirectUri).port;
    await assert.rejects(get(`http://[::1]:${port}/callback?state=s&code=x`), /ECONNREFUSED|EADDRNOTAVAIL/);
    cb.close();
    await assert.rejects(cb.code);
  });

  it('a denial in the browser ends the login with a message', async () => {
    const cb = await startLoopbackCallback('s', { timeoutMs: 10_000, warn: () => undefined });
    const res = await get(`${cb.redirectUri}?error=access_denied&state=s`);
    assert.equal(res.status, 200);
    await assert.rejects(cb.code, /denied in the browser/);
  });

  it('gives up after the timeout and stops listening', async () => {
    const cb = await startLoopbackCallback('s', { timeoutMs: 200, warn: () => undefined });
    await assert.rejects(cb.code, /no answer from the browser/);
    await assert.rejects(get(`${cb.redirectUri}?code=x&state=s`), /ECONNREFUSED/);
  });
});

describe('headless code entry', () => {
  it('prompts, skips empty lines, drops the spaces of a grouped code', async () => {
    const input = new PassThrough();
    const out = new PassThrough();
    let prompts = '';
    out.on('data', (c: Buffer) => (prompts += c.toString()));
    const code = readCode(input, out, 5_000);
    input.write('\n  ABCD-EFGH JKLM \n');
    assert.equal(await code, 'ABCD-EFGHJKLM');
    assert.equal(prompts.match(/Enter the code shown in the browser: /g)?.length, 2);
  });
  it('end of input is an error, not an empty code', async () => {
    const input = new PassThrough();
    const code = readCode(input, new PassThrough(), 5_000);
    input.end();
    await assert.rejects(code, /end of input/);
  });
});

describe('browser opener', () => {
  it('GATEHOUSE_BROWSER=none prints instead; $BROWSER with %s; no display on Linux: none', () => {
    assert.equal(browserCommand('u', { GATEHOUSE_BROWSER: 'none', DISPLAY: ':0' }, 'linux'), undefined);
    assert.deepEqual(browserCommand('u', { BROWSER: 'firefox --new-tab %s:lynx' }, 'linux'), { cmd: 'firefox', args: ['--new-tab', 'u'] });
    assert.deepEqual(browserCommand('u', { BROWSER: 'w3m' }, 'linux'), { cmd: 'w3m', args: ['u'] });
    assert.equal(browserCommand('u', {}, 'linux'), undefined);
    assert.deepEqual(browserCommand('u', { DISPLAY: ':0' }, 'linux'), { cmd: 'xdg-open', args: ['u'] });
    assert.deepEqual(browserCommand('u', {}, 'darwin'), { cmd: 'open', args: ['u'] });
  });
  it('over SSH without a display the login is headless', () => {
    assert.equal(isHeadless({ SSH_CONNECTION: '1 2 3 4' }), true);
    assert.equal(isHeadless({ SSH_CONNECTION: '1 2 3 4', DISPLAY: 'localhost:10' }), false);
    assert.equal(isHeadless({}), false);
  });
});

describe('curl arguments', () => {
  it('token leak on a followed redirect: -L in any spelling is found', () => {
    for (const args of [['-L', 'u'], ['-sSL', 'u'], ['--location', 'u'], ['--location-trusted', 'u'], ['-sL'], ['-o', 'out', '-L']]) {
      assert.equal(parseCurlArgs(args).followsRedirects, true, args.join(' '));
    }
    for (const args of [['-s', 'u'], ['-oL', 'u'], ['-o', '-L'], ['-H', 'X-L: 1'], ['-XPOST', 'u'], ['--data', '-L'], ['--user-agent', '-L']]) {
      assert.equal(parseCurlArgs(args).followsRedirects, false, args.join(' '));
    }
  });
  it('token sent to another host: every URL is found, wherever it is written; option values are not URLs', () => {
    assert.deepEqual(parseCurlArgs(['-sS', 'https://a.example/x', '-d', 'x=1', '-e', 'https://referer.example', 'HTTP://b.example', '--url', 'c.example/y', '-o', 'out']).urls, [
      'https://a.example/x',
      'HTTP://b.example',
      'c.example/y',
    ]);
    assert.deepEqual(parseCurlArgs(['-Hx: y', 'evil.example', '-x', 'http://proxy:3128', '--unknown-option', 'value']).urls, ['evil.example', 'value'], 'an unknown option\'s value is checked as a URL (the safe side)');
  });
  it('-K/--config is noticed (a file of options cannot be checked)', () => {
    assert.equal(parseCurlArgs(['-K', 'f', 'https://a']).readsConfig, true);
    assert.equal(parseCurlArgs(['--config', 'f']).readsConfig, true);
    assert.equal(parseCurlArgs(['-sK', 'f']).readsConfig, true);
    assert.equal(parseCurlArgs(['-s', 'https://a']).readsConfig, false);
  });
});

describe('tunnel addresses', () => {
  it('tunnel reachable from the network: only loopback --listen addresses are accepted', () => {
    assert.deepEqual(parseListen('127.0.0.1:8501'), { host: '127.0.0.1', port: 8501 });
    assert.deepEqual(parseListen('[::1]:8501'), { host: '::1', port: 8501 });
    assert.deepEqual(parseListen('localhost:9'), { host: '127.0.0.1', port: 9 });
    assert.deepEqual(parseListen('8501'), { host: '127.0.0.1', port: 8501 });
    for (const bad of ['0.0.0.0:8501', '[::]:8501', '192.168.1.5:8501', 'example.com:80', ':8501', '127.0.0.1:99999', 'localhost']) {
      assert.throws(() => parseListen(bad), /--listen/, bad);
    }
  });
  it('loopback names', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', 'localhost.evil.example', '127.0.0.1.nip.io']) assert.equal(isLoopbackHost(h), false, h);
  });
  it('DNS rebinding and cross-site pages are refused; local clients and pages served through the tunnel pass', () => {
    assert.equal(refusal({ host: '127.0.0.1:8501' }, 8501), undefined);
    assert.equal(refusal({ host: 'localhost:8501', origin: 'http://localhost:8501' }, 8501), undefined);
    assert.equal(refusal({ host: 'rebind.evil.example:8501' }, 8501), 'host-not-loopback');
    assert.equal(refusal({ host: '127.0.0.1:9999' }, 8501), 'host-not-loopback');
    assert.equal(refusal({}, 8501), 'host-not-loopback');
    assert.equal(refusal({ host: '127.0.0.1:8501', origin: 'https://evil.example' }, 8501), 'cross-site-origin');
    assert.equal(refusal({ host: '127.0.0.1:8501', origin: 'null' }, 8501), 'cross-site-origin');
    assert.equal(refusal({ host: '127.0.0.1:8501', origin: 'http://127.0.0.1:3000' }, 8501), 'cross-site-origin');
    assert.equal(refusal({ host: '127.0.0.1:8501', 'sec-fetch-site': 'cross-site' }, 8501), 'cross-site-origin');
  });
});

describe('curl arguments that send the token elsewhere', () => {
  it('token sent to another host through a URL parser differential: user info, backslashes, escapes and spaces are refused', () => {
    for (const bad of ['https://gh.example\\@evil.com/', 'https://user@gh.example/', 'https://gh.example@evil.com/', 'https://gh%2eexample/', 'https://gh.example /x', 'https://GH.example\\x', 'https://bücher.example/']) {
      assert.equal(unambiguousHost(bad), false, bad);
    }
    for (const good of ['https://gh.example/x?email=a@b.example', 'https://GH.Example:8443/a%20b', 'http://127.0.0.1:4180/', 'http://[::1]:4180/x']) {
      assert.equal(unambiguousHost(good), true, good);
    }
  });
  it('token sent to another host through a proxy, a resolve override, a socket or an abbreviated -L: found, and unknown long options reported', () => {
    assert.deepEqual(parseCurlArgs(['-x', 'http://evil:3128', 'https://a']).elsewhere, ['proxy']);
    assert.deepEqual(parseCurlArgs(['-sSx', 'http://evil:3128', 'https://a']).elsewhere, ['proxy']);
    for (const name of ['proxy', 'preproxy', 'connect-to', 'resolve', 'unix-socket', 'socks5-hostname', 'follow']) {
      assert.deepEqual(parseCurlArgs([`--${name}`, 'v', 'https://a']).elsewhere, [name], name);
    }
    assert.deepEqual(parseCurlArgs(['--location-tr', 'https://a']).unknown, ['--location-tr'], 'curl would take the prefix as --location-trusted');
    assert.deepEqual(parseCurlArgs(['--silent', '--no-progress-meter', '--fail-with-body', '-d', 'x', 'https://a']).unknown, [], 'known options pass');
  });
});

describe('terminal output', () => {
  it('terminal escape injection: control characters in a name or group from an IdP are printed as ?, in tables and lines alike', () => {
    const evil = 'alice\x1b]0;pwned\x07\x1b[2K\r\x9b31m';
    assert.equal(printable(evil), 'alice?]0;pwned??[2K??31m');
    const table = formatTable(['USER', 'GROUPS'], [[evil, 'ml\nroot']]);
    assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(table), 'no control character but the line ends');
    assert.equal(table.split('\n').length, 3, 'a newline in a cell cannot add a row');
    assert.equal(printable('Zoë Ünal, ml-engineers'), 'Zoë Ünal, ml-engineers', 'letters beyond ASCII are kept');
  });
});
