import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../clock.js';
import type { LoadedConfig } from '../config/load.js';
import { startEchoUpstream, type EchoUpstream } from '../demo/echo-upstream.js';
import { ERRORS } from '../errors.js';
import { createLogger, EVENTS, F, type Logger } from '../log.js';
import { buildContext, type Closers } from './build-context.js';
import type { AppContext } from './context.js';
import { OpenUpgrades } from './open-upgrades.js';
import { requestHandler } from './pipeline.js';
import type { PolicyStatus } from './policy-state.js';
import { PolicyReloader } from './reloader.js';
import { upgradeHandler } from './upgrade.js';

/** Options for starting Gatehouse in-process (the CLI and the tests use this). */
export interface StartOptions {
  loaded: LoadedConfig;
  log?: Logger;
  clock?: Clock;
  /** Environment for `${VAR}` in the config when policies reload; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** A running Gatehouse: the one place that wires the modules together. */
export class Gatehouse {
  private constructor(
    private readonly server: Server,
    /** The serving context: replaced whole by a policy reload, never changed in place. */
    private readonly cell: { current: AppContext },
    private readonly reloader: PolicyReloader,
    private readonly upgrades: OpenUpgrades,
    private readonly closers: Closers,
    private readonly demoUpstream: EchoUpstream | undefined,
    readonly url: string,
  ) {}

  /** Builds everything, then listens. Fails (and cleans up) when any part cannot start. */
  static async start(opts: StartOptions): Promise<Gatehouse> {
    const { config } = opts.loaded;
    const log = opts.log ?? createLogger(config.log.level);
    const built = await buildContext(opts.loaded, log, opts.clock ?? systemClock);
    const cell = { current: built.ctx };
    // Each request reads the context once and keeps it: a reload never changes one in flight.
    const state = () => cell.current;
    const server = createServer(
      {
        maxHeaderSize: config.server.max_header_bytes,
        headersTimeout: config.server.headers_timeout,
        requestTimeout: config.server.request_timeout,
        keepAliveTimeout: config.server.keep_alive_timeout,
        noDelay: true,
      },
      requestHandler(state),
    );
    const upgrades = new OpenUpgrades(state);
    // Sessions ended anywhere (logout, admin, SCIM, another instance) close their open websockets;
    // when announcements may have been missed, the sessions of open sockets are looked up again.
    const sessions = built.ctx.stores.sessions;
    sessions.onEnded((ids) => {
      if (ids !== 'all') return void upgrades.endSessions(ids);
      const open = upgrades.sessionIds();
      sessions.getMany(open).then(
        (values) => upgrades.endSessions(open.filter((_, i) => values[i] === undefined)),
        () => {}, // store unreachable: checked again at the next resubscribe
      );
    });
    server.on('upgrade', upgradeHandler(state, upgrades));
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      const code = err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : 'BAD_REQUEST';
      if (socket.writable) {
        const body = JSON.stringify({ error: { code, message: ERRORS[code].message } });
        socket.end(`HTTP/1.1 ${ERRORS[code].status} ${code}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
      } else socket.destroy();
      log.warn({ [F.event]: EVENTS.error, [F.code]: code, [F.reason]: err.code ?? 'client-error' }, 'malformed request');
    });
    let demoUpstream: EchoUpstream | undefined;
    let reloader: PolicyReloader;
    try {
      reloader = new PolicyReloader({
        loaded: opts.loaded,
        env: opts.env ?? process.env,
        cell: { get: state, set: (ctx) => (cell.current = ctx) },
        // An open websocket was decided at its handshake: decide it again under the new policy.
        onReloaded: (ctx) => upgrades.recheck(ctx),
      });
      if (config.demo_upstream) demoUpstream = await startEchoUpstream(config.demo_upstream.listen.host, config.demo_upstream.listen.port);
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(config.server.listen.port, config.server.listen.host, resolve));
    } catch (err) {
      await built.closers.close();
      await demoUpstream?.close();
      throw err;
    }
    const addr = server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    if (config.server.watch_policies) reloader.watch();
    const app = new Gatehouse(server, cell, reloader, upgrades, built.closers, demoUpstream, `http://${host}:${addr.port}`);
    log.info({ [F.event]: EVENTS.startup, listen: app.url, public_url: config.server.public_url, routes: built.ctx.routes.routes.length, upstream_client: built.ctx.pools.engine, demo: config.demo, watch_policies: config.server.watch_policies }, 'gatehouse listening');
    return app;
  }

  /** The current state (read-only), for tests and admin commands. */
  get context(): AppContext {
    return this.cell.current;
  }

  /**
   * Loads and validates the config and policy files again and swaps in the new policy, or keeps
   * the old one on any problem (logged with code POLICY_RELOAD_FAILED). SIGHUP calls this.
   */
  reload(): Promise<PolicyStatus> {
    return this.reloader.reload();
  }

  /** Stops accepting, closes connections, pools, stores and the demo upstream. */
  async stop(): Promise<void> {
    await this.reloader.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      setTimeout(() => {
        this.server.closeAllConnections();
        this.upgrades.closeAll();
      }, 2000).unref();
    });
    await this.closers.close();
    await this.demoUpstream?.close();
    this.context.requests.flush();
    this.context.log.info({ [F.event]: EVENTS.shutdown }, 'gatehouse stopped');
  }
}
