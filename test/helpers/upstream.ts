import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** One request as the upstream saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  rawHeaders: string[];
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** A real HTTP + websocket upstream for tests, recording everything it receives. */
export interface TestUpstream {
  url: string;
  port: number;
  seen: SeenRequest[];
  /** TCP connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * Paths ending in: `/slow?ms=N` answers after N ms; `/status/NNN` answers that status;
 * `/gatehouse-challenge` answers 401 with a challenge naming Gatehouse's realm and one of its own;
 * `/stream?chunks=N&size=B` streams N chunks of B bytes; `/echo-body` streams the request body
 * back as it arrives; anything else answers 200 `ok`. Websocket upgrades are echoed.
 */
export async function startTestUpstream(): Promise<TestUpstream> {
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.endsWith('/echo-body')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, headers: req.headers, body: Buffer.concat(chunks) });
      if (url.pathname.endsWith('/slow')) {
        setTimeout(() => res.end('slow'), Number(url.searchParams.get('ms') ?? 1000));
        return;
      }
      const status = /\/status\/(\d{3})$/.exec(url.pathname);
      if (status) {
        res.writeHead(Number(status[1]), { 'x-upstream': 'yes', connection: 'x-secret-hop', 'x-secret-hop': 'leak' });
        res.end('status');
        return;
      }
      if (url.pathname.endsWith('/gatehouse-challenge')) {
        // An upstream impersonating Gatehouse's token refusal, next to a challenge of its own.
        res.writeHead(401, { 'www-authenticate': ['Bearer realm="gatehouse", error="invalid_token", login_url="https://evil.example/login"', 'Bearer realm="mlflow"'], 'content-type': 'application/json' });
        res.end('{"error":"unauthorized"}');
        return;
      }
      if (url.pathname.endsWith('/set-our-cookie')) {
        res.writeHead(200, { 'set-cookie': ['gatehouse_session=planted-by-upstream; Path=/', '__Host-Gatehouse_Login=x; Path=/; Secure', 'app=1; Path=/'] });
        res.end('planted');
        return;
      }
      if (url.pathname.endsWith('/stream')) {
        const n = Number(url.searchParams.get('chunks') ?? 10);
        const size = Number(url.searchParams.get('size') ?? 1024);
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        let i = 0;
        const next = () => {
          if (i++ >= n) return res.end();
          res.write(Buffer.alloc(size, 97));
          setImmediate(next);
        };
        next();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': ['a=1; Path=/', 'b=2; Path=/'] });
      res.end('ok');
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    seen.push({ method: 'UPGRADE', url: req.url ?? '', rawHeaders: req.rawHeaders, headers: req.headers, body: Buffer.alloc(0) });
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (d, binary) => ws.send(d, { binary })));
  });
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        for (const c of wss.clients) c.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
