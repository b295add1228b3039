import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** A running demo upstream. */
export interface EchoUpstream {
  url: string;
  close(): Promise<void>;
}

/**
 * The demo upstream: answers every request with JSON showing what Gatehouse forwarded (method,
 * path, headers, and the decoded identity), and echoes websocket messages. Local trial only.
 */
export async function startEchoUpstream(host: string, port: number): Promise<EchoUpstream> {
  const server: Server = createServer((req, res) => {
    const groups = String(req.headers['x-forwarded-groups'] ?? '');
    const body = JSON.stringify(
      {
        service: 'gatehouse demo upstream',
        method: req.method,
        path: req.url,
        identity: {
          user: req.headers['x-forwarded-user'] ?? null,
          email: req.headers['x-forwarded-email'] ?? null,
          groups: groups ? groups.split(',').map(decodeURIComponent) : [],
        },
        headers: req.headers,
      },
      null,
      2,
    );
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ hello: req.headers['x-forwarded-user'] ?? null }));
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`,
    close: () =>
      new Promise((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
