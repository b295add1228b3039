import { Agent as HttpAgent, type ClientRequest, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HOP_BY_HOP as HOP } from '../forward/header-hygiene.js';
import { CliError } from './cli-error.js';
import { mayReceiveToken, originOf } from './credentials-file.js';
import { signedIn } from './fresh-token.js';
import { TokenKeeper } from './token-keeper.js';
import { parseListen, refusal } from './tunnel-guard.js';
import { replayable, tokenRefused } from './tunnel-replay.js';

/** A running tunnel. */
export interface Tunnel {
  url: string;
  close(): Promise<void>;
}

/** The client's headers minus hop-by-hop ones (and those its Connection header names). */
function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(String(headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()));
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP.has(k) && !named.has(k) && v !== undefined) out[k] = v;
  return out;
}

function answer(res: ServerResponse | Duplex, status: number, text: string): void {
  if ('writeHead' in res) {
    if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`gatehouse tunnel: ${text}\n`);
  } else {
    res.end(`HTTP/1.1 ${status} Refused\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\ngatehouse tunnel: ${text}\n`);
  }
}

/**
 * Starts a local HTTP server forwarding every request and websocket upgrade to `target`'s origin
 * with `Proxy-Authorization: Bearer <token>` (kept fresh by `keeper`), bodies streamed both ways.
 * When Gatehouse refuses the token and a newer login is in the credentials file, a request that
 * can be replayed (see replayable) and an upgrade are sent once more with the new login's token.
 */
async function startTunnel(o: { listen: string; target: string; keeper: TokenKeeper; warn: (line: string) => void }): Promise<Tunnel> {
  const addr = parseListen(o.listen);
  const target = new URL(originOf(o.target));
  const tls = target.protocol === 'https:';
  const send = tls ? httpsRequest : httpRequest;
  const agent = tls ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  let port = addr.port;

  /** Checks the local request; the token to send, or undefined when it was answered. */
  async function admit(req: IncomingMessage, res: ServerResponse | Duplex): Promise<string | undefined> {
    const why = refusal(req.headers, port);
    if (why) return void answer(res, 403, `refused (${why}): only clients on this computer, not web pages, may use the tunnel`);
    if (!req.url?.startsWith('/')) return void answer(res, 400, 'origin-form request targets only');
    try {
      return await o.keeper.get();
    } catch (e) {
      o.warn(`gatehouse tunnel: ${(e as Error).message}`);
      return void answer(res, 401, (e as Error).message);
    }
  }

  /** Opens the upstream request with `token`. */
  function open(req: IncomingMessage, res: ServerResponse | Duplex, token: string, upgrade: boolean): ClientRequest {
    const headers = endToEnd(req.headers);
    headers.host = target.host;
    headers['proxy-authorization'] = `Bearer ${token}`;
    if (upgrade) Object.assign(headers, { connection: 'Upgrade', upgrade: req.headers.upgrade ?? 'websocket' });
    const up = send({ protocol: target.protocol, hostname: target.hostname.replace(/^\[|\]$/g, ''), port: target.port || (tls ? 443 : 80), method: req.method, path: req.url, headers, agent: upgrade ? false : agent });
    up.on('error', (e) => {
      o.warn(`gatehouse tunnel: ${req.method} ${req.url?.split('?')[0]}: ${e.message}`);
      answer(res, 502, `cannot reach ${target.origin}`);
    });
    return up;
  }

  /**
   * The token to send this request again with, when Gatehouse refused `token` and a newer login
   * is in the credentials file (then used for the next requests either way); undefined to pass
   * the 401 on. Only a first try of a request that can be replayed is sent again.
   */
  async function retryWith(upRes: IncomingMessage, token: string, replay: boolean): Promise<string | undefined> {
    if (!tokenRefused(upRes.statusCode, upRes.headers)) return undefined;
    try {
      const next = await o.keeper.renew(token);
      return replay ? next : undefined;
    } catch (e) {
      // Whatever went wrong looking for a newer login, the 401 goes to the client as it came.
      o.warn(`gatehouse tunnel: could not look for a newer login: ${(e as Error).message}`);
      return undefined;
    }
  }

  function forward(req: IncomingMessage, res: ServerResponse, token: string, retried: boolean): void {
    const replay = replayable(req.method, req.headers);
    const up = open(req, res, token, false);
    up.on('response', (upRes) => {
      void retryWith(upRes, token, replay && !retried).then((next) => {
        if (next) {
          upRes.resume();
          return forward(req, res, next, true);
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, endToEnd(upRes.headers));
        upRes.pipe(res);
      });
    });
    if (!replay) return void req.pipe(up);
    req.resume(); // no body: nothing to keep for a second try
    up.end();
  }

  function upgradeTo(req: IncomingMessage, socket: Socket, head: Buffer, token: string, retried: boolean): void {
    const up = open(req, socket, token, true);
    up.on('upgrade', (upRes, upSocket, upHead) => {
      const lines = [`HTTP/1.1 101 ${upRes.statusMessage ?? 'Switching Protocols'}`];
      for (let i = 0; i < upRes.rawHeaders.length; i += 2) lines.push(`${upRes.rawHeaders[i]}: ${upRes.rawHeaders[i + 1]}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (upHead.length) socket.write(upHead);
      if (head.length) upSocket.write(head);
      upSocket.on('error', () => socket.destroy());
      socket.on('close', () => upSocket.destroy());
      upSocket.on('close', () => socket.destroy());
      upSocket.pipe(socket).pipe(upSocket);
    });
    up.on('response', (upRes) => {
      // The client's socket is not switched before our 101: the upgrade is asked again afresh.
      void retryWith(upRes, token, !retried).then((next) => {
        if (next) {
          upRes.resume();
          return upgradeTo(req, socket, head, next, true);
        }
        const lines = [`HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage ?? ''}`];
        for (let i = 0; i < upRes.rawHeaders.length; i += 2) lines.push(`${upRes.rawHeaders[i]}: ${upRes.rawHeaders[i + 1]}`);
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
        upRes.pipe(socket);
      });
    });
    up.end();
  }

  const server: Server = createServer((req, res) => {
    void admit(req, res).then((token) => token && forward(req, res, token, false));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    void admit(req, socket).then((token) => token && upgradeTo(req, socket, head, token, false));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new CliError(`cannot listen on ${o.listen}: ${e.code ?? e.message}`)));
    server.listen(addr.port, addr.host, resolve);
  });
  port = (server.address() as AddressInfo).port;
  const shown = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
  return {
    url: `http://${shown}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}

/** `gatehouse tunnel --listen ADDR URL`: runs until SIGINT or SIGTERM. */
export async function runTunnel(o: { listen?: string; url: string; env?: NodeJS.ProcessEnv; out?: NodeJS.WritableStream; err?: NodeJS.WritableStream }): Promise<number> {
  const out = o.out ?? process.stdout;
  const err = o.err ?? process.stderr;
  const listen = o.listen ?? '127.0.0.1:8501';
  parseListen(listen); // a usage error comes before anything else
  const s = signedIn(o.url, o.env);
  const origin = originOf(o.url);
  if (!mayReceiveToken(s.issuer, s.entry, origin)) throw new CliError(`not signed in to ${origin}: run gatehouse login ${origin}`);
  const warn = (line: string) => err.write(`${line}\n`);
  const keeper = new TokenKeeper(s, {
    origin,
    onSwitch: (issuer, user, previous) => warn(`gatehouse tunnel: picked up a new login for ${issuer}${user === previous ? '' : ` (now ${user}, was ${previous})`}`),
    onIgnored: (issuer, origin) => warn(`gatehouse tunnel: a new login for ${issuer} does not name ${origin}, so it is not used: run gatehouse login ${origin}`),
  });
  await keeper.get(); // fail now, not at the first request, when the session has ended
  const tunnel = await startTunnel({ listen, target: origin, keeper, warn });
  out.write(`${tunnel.url}\nForwarding ${tunnel.url} to ${origin} as ${s.entry.user} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await tunnel.close();
  return 0;
}
