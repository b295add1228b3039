/**
 * Text from a server or an IdP made safe to print on a terminal: control characters (C0, DEL,
 * C1) become `?`, so a name or group carrying an escape sequence cannot rewrite the screen,
 * retitle the window or hide a line.
 */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}

/**
 * A plain-text table for the terminal: the header row, then one row per item, each column
 * padded to its widest cell, two spaces apart, trailing spaces cut, every cell printable.
 * Ends with a newline.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows].map((r) => r.map(printable));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return `${all.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')}\n`;
}
