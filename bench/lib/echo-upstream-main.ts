/**
 * Child-process entry of the echo upstream: `node --import tsx bench/lib/echo-upstream-main.ts
 * <port> [bodyBytes]`. Prints one JSON line `{"port":…,"pid":…}` when listening; exits on
 * SIGTERM/SIGINT or when its parent goes away (stdin closes).
 */
import { createEchoServer } from './echo-server.js';

const port = Number(process.argv[2] ?? 0);
const bodyBytes = Number(process.argv[3] ?? 100);
const server = createEchoServer({ bodyBytes });

server.listen(port, '127.0.0.1', () => {
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  process.stdout.write(`${JSON.stringify({ port: bound, pid: process.pid })}\n`);
});

const quit = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.once('SIGTERM', quit);
process.once('SIGINT', quit);
process.stdin.on('end', quit);
process.stdin.resume();
