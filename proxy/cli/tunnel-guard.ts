import type { IncomingHttpHeaders } from 'node:http';
import { CliError } from './cli-error.js';
import { isLoopbackHost } from './token-client.js';

/** Where the tunnel listens: loopback only. */
export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * Parses `--listen` (`127.0.0.1:8501`, `[::1]:8501`, `localhost:8501` or a bare port). Anything
 * but a loopback address is refused: whoever can reach the port acts as the signed-in user, so
 * it must not be reachable from the network.
 */
export function parseListen(listen: string): ListenAddress {
  const m = /^(?:(\[[^\]]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(listen.trim());
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new CliError(`--listen ${listen}: expected HOST:PORT, e.g. 127.0.0.1:8501`, 2);
  const host = (m[1] ?? '127.0.0.1').replace(/^\[|\]$/g, '');
  if (!isLoopbackHost(host)) {
    throw new CliError(`--listen ${listen}: the tunnel listens on loopback only (127.0.0.1, ::1, localhost): anyone reaching it would act as you`, 2);
  }
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}

/**
 * Why a request to the local port is refused, or undefined to forward it. The port holds the
 * user's identity, so a web page must not use it: a Host that is not a loopback name stops DNS
 * rebinding, an Origin from another site stops cross-site requests (forms, fetch) from a page
 * open in the user's browser. Pages served through the tunnel itself keep working.
 */
export function refusal(headers: IncomingHttpHeaders, port: number): string | undefined {
  const host = headers.host ?? '';
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
  if (!m || !isLoopbackHost(m[1]!) || Number(m[2] ?? 80) !== port) return 'host-not-loopback';
  const origin = headers.origin;
  if (origin !== undefined && origin !== 'null') {
    const o = URL.canParse(origin) ? new URL(origin) : undefined;
    if (!o || o.protocol !== 'http:' || !isLoopbackHost(o.hostname) || Number(o.port || 80) !== port) return 'cross-site-origin';
  } else if (origin === 'null') {
    return 'cross-site-origin';
  }
  if (headers['sec-fetch-site'] === 'cross-site') return 'cross-site-origin';
  return undefined;
}
