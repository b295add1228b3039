/** Escapes text for XML element content and double-quoted attributes (our own messages). */
export function esc(text: string): string {
  return text.replace(/[&<>"'\r\n\t]/g, (c) => `&#${c.charCodeAt(0)};`);
}
