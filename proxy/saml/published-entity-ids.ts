import { F, type Logger } from '../log.js';
import type { StateStore } from '../store/state-store.js';

/** Kept for ten years: an entity ID is meant to outlive any deployment. */
const KEEP_MS = 10 * 365 * 86_400_000;

/** What changed, for tests and logs. */
export interface EntityIdChange {
  connection: string;
  published: string;
  now: string;
}

/**
 * An SP entity ID is how an IdP knows a connection: once published it must not change (a new
 * `public_url` or `entity_id` silently breaks every login at that IdP, which refuses requests
 * from an SP it does not know). Each connection's entity ID is remembered in the shared records
 * store the first time it is seen; a later start with another one logs SP_ENTITY_ID_CHANGED
 * (error) once, naming both and the way back (`entity_id:` set to the published value). The new
 * value is then remembered, so the line is written once per change, not at every start.
 * With the memory store the record lives only as long as the process: use Redis to get this.
 * A store failure never stops startup (logged at warn): this is advice, not a gate.
 */
export async function checkPublishedEntityIds(records: StateStore, sps: readonly { connection: string; entityId: string }[], log: Logger): Promise<EntityIdChange[]> {
  const changes: EntityIdChange[] = [];
  for (const { connection, entityId } of sps) {
    const key = `sp-entity:${connection}`;
    try {
      if (await records.putIfAbsent(key, entityId, KEEP_MS)) continue;
      const published = await records.get(key);
      if (published === undefined || published === entityId) continue;
      changes.push({ connection, published, now: entityId });
      log.error(
        { [F.code]: 'SP_ENTITY_ID_CHANGED', [F.connection]: connection, published, now: entityId },
        `connection ${connection}: its SP entity ID changed since it was published; IdPs registered with the old one will refuse its logins. To keep it, set entity_id: "${published}" on the connection; otherwise give the IdP the new SP metadata`,
      );
      await records.put(key, entityId, KEEP_MS);
    } catch (err) {
      log.warn({ [F.connection]: connection, err }, 'could not check the published SP entity ID (session store unreachable)');
    }
  }
  return changes;
}
