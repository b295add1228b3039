/**
 * What every benchmark run does around its measurements: Ctrl-C / SIGTERM abort it, and every
 * process it started is stopped in reverse order, each by its own pid, whatever happens.
 */
export interface BenchLifecycle {
  /** Aborted on SIGINT/SIGTERM: measurements stop early. */
  signal: AbortSignal;
  /** Registers something started (stopped at the end); throws if the run was aborted meanwhile. */
  started<T extends { stop(): Promise<void> }>(name: string, x: T): T;
  /** Stops everything started, newest first, and removes the signal handlers. */
  stopAll(): Promise<void>;
}

export function benchLifecycle(): BenchLifecycle {
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (!abort.signal.aborted) console.error(`${sig}: stopping every process this benchmark started`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stops: { name: string; stop: () => Promise<void> }[] = [];
  return {
    signal: abort.signal,
    started(name, x) {
      stops.push({ name, stop: () => x.stop() });
      abort.signal.throwIfAborted();
      return x;
    },
    async stopAll() {
      for (const { name, stop } of stops.reverse()) await stop().catch((err: Error) => console.error(`stopping ${name}: ${err.message}`));
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/**
 * Runs a benchmark's measurements with a lifecycle: its exit code, or 130 when interrupted
 * (Ctrl-C, SIGTERM); everything it started is stopped in the end either way.
 */
export async function withLifecycle(body: (run: BenchLifecycle) => Promise<number>): Promise<number> {
  const run = benchLifecycle();
  try {
    return await body(run);
  } catch (err) {
    if (run.signal.aborted) {
      console.error('interrupted');
      return 130;
    }
    throw err;
  } finally {
    await run.stopAll();
  }
}
