/**
 * An https front for a Gatehouse that listens on plain http, as a TLS-terminating load balancer
 * is in production: TLS is ended here and the bytes are piped unchanged to the loopback port.
 * Gatehouse itself does not terminate TLS (server.listen is plain http); its public_url says https.
 */
import { connect } from 'node:net';
import { createServer, type Server } from 'node:tls';
import { freePort } from './free-port.js';

/** A running forwarder: `https://<name>:<port>` reaches `127.0.0.1:<target>`. */
export interface TlsForwarder {
  port: number;
  close(): Promise<void>;
}

/** Listens on a free loopback port with this key and certificate (PEM) and forwards every connection. */
export async function startTlsForwarder(target: number, keys: { privateKeyPem: string; certPem: string }): Promise<TlsForwarder> {
  const port = await freePort();
  const server: Server = createServer({ key: keys.privateKeyPem, cert: keys.certPem }, (tls) => {
    const plain = connect(target, '127.0.0.1');
    tls.pipe(plain).pipe(tls);
    const end = () => {
      tls.destroy();
      plain.destroy();
    };
    tls.on('error', end).on('close', end);
    plain.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
