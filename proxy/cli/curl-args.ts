/** curl's one-letter options that take a value (curl 7.88 `--help all`): `-sSo out` ends at `o`. */
const SHORT_WITH_VALUE = new Set('EKCbcdDFPHhmoUQreXYytzTuAw');

/** The http(s) URLs among curl's arguments (anything that starts with `http://` or `https://`). */
export function urlArguments(args: readonly string[]): string[] {
  return args.filter((a) => /^https?:\/\//i.test(a));
}

/**
 * True when the arguments ask curl to follow redirects (`-L`, `--location`, `--location-trusted`,
 * or `L` inside a cluster such as `-sSL`). curl keeps a custom `Proxy-Authorization` header on a
 * redirect to another host (it only drops `Authorization` and `Cookie`), so the token would go
 * wherever the redirect points.
 */
export function followsRedirects(args: readonly string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--location' || a === '--location-trusted') return true;
    if (!/^-[^-]/.test(a)) continue;
    for (let j = 1; j < a.length; j++) {
      const ch = a[j]!;
      if (ch === 'L') return true;
      if (SHORT_WITH_VALUE.has(ch)) {
        if (j === a.length - 1) i++; // the value is the next argument
        break;
      }
    }
  }
  return false;
}
