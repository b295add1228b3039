/**
 * The checks around a benchmark's measurements: what it verified before measuring (a run that
 * would measure the wrong thing does not start), and what the run and the same check after it
 * say about the numbers (exit 1 when they may not be of the requests meant).
 */

/** Prints the problems found before the run; true when there are any (then do not measure). */
export function problemsBefore(problems: readonly string[]): boolean {
  for (const p of problems) console.error(p);
  return problems.length > 0;
}

/**
 * The exit code after a run: 1 when a target answered non-2xx or errors, or the check after the
 * run found problems (each printed with `consequence`), else 0.
 */
export function exitCodeAfter(targets: readonly { name: string; non2xx: number; errors: number }[], after: readonly string[], consequence: string): number {
  let code = 0;
  for (const t of targets) {
    if (t.non2xx + t.errors > 0) {
      console.error(`${t.name} answered ${t.non2xx} non-2xx and ${t.errors} errors: the numbers are not of authenticated requests`);
      code = 1;
    }
  }
  for (const p of after) {
    console.error(`${p}: ${consequence}`);
    code = 1;
  }
  return code;
}
