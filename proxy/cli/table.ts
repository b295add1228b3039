import { printable } from './printable.js';

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
