import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { EVENTS, F, type Logger } from '../log.js';
import type { IdpSource } from '../saml/idp-source.js';
import type { Announcements } from '../store/open-stores.js';

const CHANNEL = 'idp-metadata-refresh';
/** An instance refreshes a connection on announcement at most this often (a burst is one fetch). */
export const ANNOUNCED_REFRESH_GAP_MS = 10_000;

/** Tells the other instances that an operator refreshed a connection's metadata. */
export interface MetadataAnnouncer {
  /** True when announcements reach other instances (a shared Redis store). */
  readonly shared: boolean;
  /** Best effort: a failure is logged, never thrown. @returns whether the message was sent */
  announce(connection: string): Promise<boolean>;
}

/**
 * With a Redis store, an on-demand refresh on one instance is announced on the store's pub/sub,
 * and every other instance fetches that IdP's metadata itself (from its configured origin, with
 * its own checks: a message names a connection, never carries metadata). A missed message only
 * means that instance refreshes at its next scheduled time.
 */
export async function listenForMetadataRefresh(ann: Announcements | undefined, sources: ReadonlyMap<string, IdpSource>, log: Logger, clock: Clock): Promise<MetadataAnnouncer> {
  if (!ann) return { shared: false, announce: async () => false };
  const self = randomBytes(8).toString('hex');
  const last = new Map<string, number>();
  await ann.subscribe(CHANNEL, (message) => {
    let m: { connection?: unknown; from?: unknown };
    try {
      m = JSON.parse(message) as typeof m;
    } catch {
      return;
    }
    if (typeof m.connection !== 'string' || m.from === self) return;
    const source = sources.get(m.connection);
    const now = clock.now();
    if (!source || now - (last.get(m.connection) ?? Number.NEGATIVE_INFINITY) < ANNOUNCED_REFRESH_GAP_MS) return;
    last.set(m.connection, now);
    log.info({ [F.event]: EVENTS.metadataRefreshAnnounced, [F.connection]: m.connection }, 'IdP metadata refresh announced by another instance');
    void source.refresh();
  });
  return {
    shared: true,
    async announce(connection) {
      try {
        await ann.publish(CHANNEL, JSON.stringify({ connection, from: self }));
        return true;
      } catch (err) {
        log.warn({ [F.connection]: connection, err }, 'could not announce the IdP metadata refresh to other instances');
        return false;
      }
    },
  };
}
