/**
 * Text from a server or an IdP made safe to print on a terminal: control characters (C0, DEL,
 * C1) become `?`, so a name or group carrying an escape sequence cannot rewrite the screen,
 * retitle the window or hide a line.
 */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}
