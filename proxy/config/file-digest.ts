import { createHash } from 'node:crypto';

/**
 * One hash over a list of files as they were read: each file's path, then the hash of its bytes
 * (or why it could not be read). loadConfig keeps the digest of exactly the bytes it parsed; the
 * policy reloader computes the same over a fresh read, so "what serves is what is on disk" is a
 * string comparison, and an edit made while Gatehouse was starting is seen as a change.
 */
export class FileDigest {
  private readonly h = createHash('sha256');

  /** Adds a file that was read (in reading order). */
  add(path: string, bytes: Buffer): this {
    this.h.update(`${path}\0h${createHash('sha256').update(bytes).digest('hex')}\n`);
    return this;
  }

  /** Adds a file that could not be read, with the error code. */
  addUnreadable(path: string, code: string): this {
    this.h.update(`${path}\0u${code}\n`);
    return this;
  }

  /** The digest (base64); call once. */
  value(): string {
    return this.h.digest('base64');
  }
}
