/** curl's one-letter options that take a value (curl 7.88 `--help all`): `-sSo out` ends at `o`. */
const SHORT_WITH_VALUE = new Set('EKCbcdDFPHhmoUQreXxYytzTuAw');

/** curl's long options that take a value (curl 7.88 `--help all`). An unknown one is taken as a flag: its value then looks like a URL and is checked, the safe side. */
const LONG_WITH_VALUE = new Set(
  (
    'abstract-unix-socket alt-svc aws-sigv4 cacert capath cert cert-type ciphers config connect-timeout connect-to continue-at cookie cookie-jar ' +
    'create-file-mode crlfile curves data data-ascii data-binary data-raw data-urlencode delegation dns-interface dns-ipv4-addr dns-ipv6-addr ' +
    'dns-servers doh-url dump-header egd-file engine etag-compare etag-save expect100-timeout form form-string ftp-account ftp-alternative-to-user ' +
    'ftp-method ftp-port ftp-ssl-ccc-mode happy-eyeballs-timeout-ms header help hostpubmd5 hostpubsha256 hsts interface json keepalive-time key ' +
    'key-type krb libcurl limit-rate local-port login-options mail-auth mail-from mail-rcpt max-filesize max-redirs max-time netrc-file noproxy ' +
    'oauth2-bearer output output-dir parallel-max pass pinnedpubkey preproxy proto proto-default proto-redir proxy proxy1.0 proxy-cacert proxy-capath ' +
    'proxy-cert proxy-cert-type proxy-ciphers proxy-crlfile proxy-header proxy-key proxy-key-type proxy-pass proxy-pinnedpubkey proxy-service-name ' +
    'proxy-tls13-ciphers proxy-tlsauthtype proxy-tlspassword proxy-tlsuser proxy-user pubkey quote random-file range rate referer request ' +
    'request-target resolve retry retry-delay retry-max-time sasl-authzid service-name socks4 socks4a socks5 socks5-gssapi-service socks5-hostname ' +
    'speed-limit speed-time stderr telnet-option tftp-blksize time-cond tls-max tls13-ciphers tlsauthtype tlspassword tlsuser trace trace-ascii ' +
    'unix-socket upload-file url url-query user user-agent write-out'
  ).split(' '),
);

/** What `gatehouse curl` must know of curl's arguments before adding the token. */
export interface CurlArgs {
  /** Every URL curl will fetch: the positional arguments and each `--url` value, as written. */
  urls: string[];
  /** `-L`, `--location`, `--location-trusted` or `L` in a cluster such as `-sSL`. */
  followsRedirects: boolean;
  /** `-K`/`--config`: a file of further options (other URLs, `location`) we cannot check. */
  readsConfig: boolean;
}

/**
 * Walks curl's arguments as curl does (options, their values, clusters of one-letter options),
 * so that every URL is found, whether written first, last or after `--url`. curl keeps a custom
 * `Proxy-Authorization` header on a redirect to another host (it drops only `Authorization` and
 * `Cookie`), so following redirects is reported too.
 */
export function parseCurlArgs(args: readonly string[]): CurlArgs {
  const out: CurlArgs = { urls: [], followsRedirects: false, readsConfig: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--')) {
      const name = a.slice(2);
      if (name === 'location' || name === 'location-trusted') out.followsRedirects = true;
      if (name === 'config') out.readsConfig = true;
      if (LONG_WITH_VALUE.has(name)) {
        const value = args[++i];
        if (name === 'url' && value !== undefined) out.urls.push(value);
      }
      continue;
    }
    if (a.length < 2 || !a.startsWith('-')) {
      out.urls.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const ch = a[j]!;
      if (ch === 'L') out.followsRedirects = true;
      if (ch === 'K') out.readsConfig = true;
      if (SHORT_WITH_VALUE.has(ch)) {
        if (j === a.length - 1) i++; // the value is the next argument
        break;
      }
    }
  }
  return out;
}
