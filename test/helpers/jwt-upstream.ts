import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { WebSocketServer } from 'ws';

/** What a JWT-verifying upstream concluded about one request. */
export interface Verdict {
  status: 200 | 401;
  claims?: JWTPayload;
  kid?: string;
  /** jose's error code (`ERR_JWT_CLAIM_VALIDATION_FAILED`...) or `no-assertion`. */
  error?: string;
}

/** One request as the verifying upstream saw it. */
export interface SeenByVerifier {
  url: string;
  rawHeaders: string[];
  verdict: Verdict;
}

export interface JwtUpstream {
  url: string;
  seen: SeenByVerifier[];
  /** Verifies a token as a request carrying it would be (tests replay tokens directly). */
  verify(token: string | undefined): Promise<Verdict>;
  close(): Promise<void>;
}

export interface JwtUpstreamOptions {
  /** Gatehouse's `/.well-known/gatehouse/jwks.json`. */
  jwksUrl: string;
  /** Gatehouse's public origin. */
  issuer: string;
  /** The route this upstream serves. */
  audience: string;
  /** jose's pause between JWKS fetches on an unknown `kid` (default 30 s). */
  cooldownMs?: number;
}

/**
 * An upstream written the way docs/identity-jwt.md says: jose's createRemoteJWKSet on
 * Gatehouse's JWKS, then jwtVerify with the issuer and its own route as audience. It answers
 * 200 with the verified claims and `kid`, or 401 with jose's error code. Websocket handshakes
 * are verified the same way; an accepted socket's first message is the verdict.
 */
export async function startJwtUpstream(o: JwtUpstreamOptions): Promise<JwtUpstream> {
  const jwks = createRemoteJWKSet(new URL(o.jwksUrl), { cooldownDuration: o.cooldownMs ?? 30_000, timeoutDuration: 2_000 });
  const verify = async (token: string | undefined): Promise<Verdict> => {
    if (!token) return { status: 401, error: 'no-assertion' };
    try {
      const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: o.issuer, audience: o.audience, algorithms: ['ES256'] });
      return { status: 200, claims: payload, kid: protectedHeader.kid };
    } catch (err) {
      return { status: 401, error: (err as { code?: string }).code ?? String(err) };
    }
  };
  const header = (req: IncomingMessage) => {
    const v = req.headers['x-gatehouse-jwt-assertion'];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const seen: SeenByVerifier[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    void verify(header(req)).then((verdict) => {
      seen.push({ url: req.url ?? '', rawHeaders: req.rawHeaders, verdict });
      const body = JSON.stringify(verdict);
      res.writeHead(verdict.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    void verify(header(req)).then((verdict) => {
      seen.push({ url: req.url ?? '', rawHeaders: req.rawHeaders, verdict });
      if (verdict.status !== 200) return socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      wss.handleUpgrade(req, socket, head, (ws) => ws.send(JSON.stringify(verdict)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    verify,
    close: () =>
      new Promise((resolve) => {
        for (const c of wss.clients) c.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
