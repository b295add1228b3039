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

/** curl's long options without a value (curl 7.88 `--help all`); `--no-NAME` turns one off. */
const LONG_FLAGS = new Set(
  (
    'anyauth append basic cert-status compressed compressed-ssh create-dirs crlf digest disable disable-eprt disable-epsv disallow-username-in-url ' +
    'doh-cert-status doh-insecure fail fail-early fail-with-body false-start form-escape ftp-create-dirs ftp-pasv ftp-pret ftp-skip-pasv-ip ' +
    'ftp-ssl-ccc ftp-ssl-control get globoff haproxy-protocol head http0.9 http1.0 http1.1 http2 http2-prior-knowledge http3 http3-only ' +
    'ignore-content-length include insecure ipv4 ipv6 junk-session-cookies list-only location location-trusted mail-rcpt-allowfails manual ' +
    'metalink negotiate netrc netrc-optional next alpn buffer clobber keepalive npn progress-meter sessionid ntlm ntlm-wb parallel ' +
    'parallel-immediate path-as-is post301 post302 post303 progress-bar proxy-anyauth proxy-basic proxy-digest proxy-insecure proxy-negotiate ' +
    'proxy-ntlm proxy-ssl-allow-beast proxy-ssl-auto-client-cert proxy-tlsv1 proxytunnel raw remote-header-name remote-name remote-name-all ' +
    'remote-time remove-on-error retry-all-errors retry-connrefused sasl-ir show-error silent socks5-basic socks5-gssapi socks5-gssapi-nec ssl ' +
    'ssl-allow-beast ssl-auto-client-cert ssl-no-revoke ssl-reqd ssl-revoke-best-effort sslv2 sslv3 styled-output suppress-connect-headers ' +
    'tcp-fastopen tcp-nodelay tftp-no-options tlsv1 tlsv1.0 tlsv1.1 tlsv1.2 tlsv1.3 tr-encoding trace-time use-ascii verbose version xattr'
  ).split(' '),
);

/**
 * Options that send the request (and so the token) somewhere else than the URL's host, or follow
 * it there: through a proxy, to another address, over a socket, after a redirect.
 */
const REDIRECTING = new Set(
  (
    'location location-trusted follow proxy preproxy proxy1.0 socks4 socks4a socks5 socks5-hostname connect-to resolve unix-socket ' +
    'abstract-unix-socket dns-servers doh-url haproxy-clientip'
  ).split(' '),
);
/** One-letter options of the same kind: `-L` (location) and `-x` (proxy). */
const SHORT_REDIRECTING: Readonly<Record<string, string>> = { L: 'location', x: 'proxy' };

/** What `gatehouse curl` must know of curl's arguments before adding the token. */
export interface CurlArgs {
  /** Every URL curl will fetch: the positional arguments and each `--url` value, as written. */
  urls: string[];
  /** `-L`, `--location`, `--location-trusted` or `L` in a cluster such as `-sSL`. */
  followsRedirects: boolean;
  /**
   * Options that would send the request elsewhere (`-x`, `--connect-to`, `--resolve`, …, and
   * `-L`): `gatehouse curl` refuses them. Named by their long name.
   */
  elsewhere: string[];
  /** Long options curl might take as abbreviations or that this curl does not know: refused. */
  unknown: string[];
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
  const out: CurlArgs = { urls: [], followsRedirects: false, readsConfig: false, elsewhere: [], unknown: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--')) {
      const name = a.slice(2);
      if (name === 'location' || name === 'location-trusted') out.followsRedirects = true;
      if (name === 'config') out.readsConfig = true;
      if (REDIRECTING.has(name)) out.elsewhere.push(name);
      if (LONG_WITH_VALUE.has(name)) {
        const value = args[++i];
        if (name === 'url' && value !== undefined) out.urls.push(value);
      } else if (!LONG_FLAGS.has(name) && !(name.startsWith('no-') && LONG_FLAGS.has(name.slice(3))) && !REDIRECTING.has(name)) {
        // curl takes any unambiguous prefix (`--location-tr`) and newer curls have new options
        // (`--follow`): only exact names we know are let through.
        out.unknown.push(a);
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
      if (SHORT_REDIRECTING[ch]) out.elsewhere.push(SHORT_REDIRECTING[ch]);
      if (SHORT_WITH_VALUE.has(ch)) {
        if (j === a.length - 1) i++; // the value is the next argument
        break;
      }
    }
  }
  return out;
}

/**
 * True when curl and the WHATWG URL parser must agree on the host of `url`: the text between
 * `//` and the first `/`, `?` or `#` is exactly the parsed host (any case: so no user info, `@`,
 * percent-escape or IDN spelling there), and there is no `\`, whitespace or control character
 * anywhere. curl reads `https://a\@b/` as user `a\` at host `b`, where the URL parser sees `a`.
 */
export function unambiguousHost(url: string): boolean {
  if (/[\\\s\x00-\x1f\x7f]/.test(url) || !URL.canParse(url)) return false;
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url)?.[1];
  return authority !== undefined && authority.toLowerCase() === new URL(url).host;
}
