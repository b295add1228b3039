/**
 * Names that look like `name`: equal ignoring case and `-`, `_`, `.`, spaces, or within a small
 * edit distance (1 for short names, up to 3 for long ones), closest first. `name` itself is not one.
 */
export function closeMatches(name: string, candidates: Iterable<string>, limit = 5): string[] {
  const target = loose(name);
  const max = target.length <= 4 ? 1 : target.length <= 12 ? 2 : 3;
  const found: { c: string; d: number }[] = [];
  for (const c of candidates) {
    if (c === name) continue;
    const other = loose(c);
    if (Math.abs(other.length - target.length) > max) continue;
    const d = other === target ? 0 : editDistance(target, other);
    if (d <= max) found.push({ c, d });
  }
  found.sort((a, b) => a.d - b.d || (a.c < b.c ? -1 : a.c > b.c ? 1 : 0));
  return found.slice(0, limit).map((f) => f.c);
}

function loose(s: string): string {
  return s.toLowerCase().replace(/[-_. ]/g, '');
}

/** Levenshtein distance (insert, delete, substitute), one row at a time. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_v, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}
