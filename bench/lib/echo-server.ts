import { createServer, type Server } from 'node:http';

/** Options of the echo upstream; defaults in brackets. */
export interface EchoServerOptions {
  /** Size of the fixed response body [100]. */
  bodyBytes?: number;
}

/**
 * A minimal upstream for forwarding benchmarks: every request gets 200 and the same body of
 * `bodyBytes` bytes with Content-Length, over keep-alive. Request bodies are drained first, so
 * POSTs work too. Built once: nothing allocated per request beyond what node:http does.
 */
export function createEchoServer(options: EchoServerOptions = {}): Server {
  const body = Buffer.alloc(options.bodyBytes ?? 100, 'x');
  const headers = ['content-type', 'text/plain', 'content-length', String(body.length)];
  const server = createServer((req, res) => {
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      res.writeHead(200, headers).end(body);
      return;
    }
    req.resume();
    req.once('end', () => res.writeHead(200, headers).end(body));
  });
  // Longer than any client pool's idle timeout, so the proxy side always closes first.
  server.keepAliveTimeout = 65_000;
  return server;
}
