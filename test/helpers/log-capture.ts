import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../proxy/log.js';

/** A logger whose JSON lines are kept in memory for assertions. */
export interface LogCapture {
  log: Logger;
  lines: Record<string, unknown>[];
  /** Raw text of everything logged (to assert that secrets never appear). */
  text(): string;
  find(pred: (l: Record<string, unknown>) => boolean): Record<string, unknown>[];
}

export function captureLogs(level: 'info' | 'debug' = 'info'): LogCapture {
  const raw: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  const log = createLogger(level, sink as unknown as Parameters<typeof createLogger>[1]);
  return { log, lines, text: () => raw.join('\n'), find: (pred) => lines.filter(pred) };
}
