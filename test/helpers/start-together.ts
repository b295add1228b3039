/**
 * Starts the parts of an end-to-end test at once (IdP, upstream, browser...). Each start assigns
 * its part as it comes up, so after() stops whatever did start even when another part failed;
 * then the first failure is thrown.
 */
export async function startTogether(...starts: Promise<unknown>[]): Promise<void> {
  for (const s of await Promise.allSettled(starts)) if (s.status === 'rejected') throw s.reason;
}
