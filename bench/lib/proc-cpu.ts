import { readFileSync } from 'node:fs';

/**
 * CPU accounting from Linux /proc, for "how much CPU did the proxy spend per request".
 * Clock ticks are USER_HZ, which is 100 on every Linux ABI Node supports (sysconf(_SC_CLK_TCK)).
 */
const TICKS_PER_SECOND = 100;

/** utime + stime of one pid in seconds, or 0 if it is gone. */
export function cpuSeconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // Field 2 (comm) may contain spaces: count fields after the last ')'. utime/stime are fields 14/15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
}

/** The pid and all its descendants (nginx workers, cluster workers), read from /proc. */
export function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    children = text ? text.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
  return [pid, ...children.flatMap(processTree)];
}

/** Busy (non-idle, non-iowait) CPU seconds of the whole host, summed over cores. */
export function hostBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return (total - (f[3] ?? 0) - (f[4] ?? 0)) / TICKS_PER_SECOND;
}

/** CPU used between `start` and `stop`, in seconds and in cores (1.0 = one core busy). */
export interface CpuSample {
  cpuSeconds: number;
  wallSeconds: number;
  cores: number;
}

/**
 * Starts measuring the CPU of `rootPid` and its descendants. The tree is read at start, so
 * workers forked later are not counted; start the meter after the target is warm.
 */
export function startCpuMeter(rootPid: number): { stop(): CpuSample } {
  const pids = processTree(rootPid);
  const sum = () => pids.reduce((acc, p) => acc + cpuSeconds(p), 0);
  const c0 = sum();
  const t0 = process.hrtime.bigint();
  return {
    stop() {
      const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const used = sum() - c0;
      return { cpuSeconds: used, wallSeconds, cores: wallSeconds > 0 ? used / wallSeconds : 0 };
    },
  };
}
