/**
 * Reading of source files for the cold index: each file goes into one reusable buffer (open, read,
 * close: no stat and no allocation), the method-name pre-filter runs on the raw bytes, and only the
 * files that pass it are decoded as UTF-8 and scanned.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { FileIndex, MethodTable } from './extract.js';
import { scanReferences } from './fast-scan.js';
import type { Language } from './types.js';

const INITIAL_BUFFER = 256 * 1024;

// Not defined on every platform (Windows has neither): a plain open there.
const { O_NOFOLLOW = 0, O_NONBLOCK = 0 } = constants as Partial<typeof constants>;
/** Opening never follows a symbolic link (the walk skips them; ELOOP then). */
const OPEN_FLAGS = constants.O_RDONLY | O_NOFOLLOW;

/** A file with a NUL byte in its first 8,000 bytes is binary (git's test): not source, never indexed. */
export const BINARY_PROBE = 8000;

/** What reading one file gives: nothing to index (unreadable, too large, no method named), a settled index, or text to parse. */
export type ReadOutcome = { readonly kind: 'none' } | { readonly kind: 'settled'; readonly index: FileIndex } | { readonly kind: 'parse'; readonly text: string };

const NONE: ReadOutcome = { kind: 'none' };

const latin1 = (b: Buffer, end: number): string => b.toString('latin1', 0, end);
/** A UTF-8 byte order mark, which editors drop: positions count from the character after it. */
const hasBom = (b: Uint8Array, end: number): boolean => end >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;
const utf8 = (b: Buffer, end: number): string => b.toString('utf8', hasBom(b, end) ? 3 : 0, end);

/**
 * A source file's text as an editor shows it (UTF-8, without a byte order mark), or undefined when it
 * is not a regular file (a folder, a symbolic link, a device) or holds more than `maxBytes` bytes: its
 * size is read first, so a huge generated file costs one fstat. Throws when it cannot be read.
 */
export function readSourceText(file: string, maxBytes = Number.MAX_SAFE_INTEGER): string | undefined {
  let fd: number;
  try {
    // Non-blocking: a FIFO with a source file's name must not hang the server (regular files ignore the flag).
    fd = openSync(file, OPEN_FLAGS | O_NONBLOCK);
  } catch (e) {
    // A symbolic link, with O_NOFOLLOW: not followed, as the cold index does not.
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') {
      return undefined;
    }
    throw e;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size > maxBytes) {
      return undefined;
    }
    const bytes = Buffer.allocUnsafe(stat.size);
    let length = 0;
    while (length < bytes.length) {
      const n = readSync(fd, bytes, length, bytes.length - length, null);
      if (n === 0) {
        break;
      }
      length += n;
    }
    return utf8(bytes, length);
  } finally {
    closeSync(fd);
  }
}

export class SourceReader {
  private buffer = Buffer.allocUnsafe(INITIAL_BUFFER);
  /** The last four characters of each method name (the whole name when shorter), as bytes, without repeats. */
  private readonly needles: Buffer[];

  constructor(
    private readonly methods: MethodTable,
    private readonly maxFileSize: number,
    private readonly fastPath: boolean,
  ) {
    this.needles = [...new Set([...methods.methods.keys()].map((m) => m.slice(-4)))].map((tail) => Buffer.from(tail, 'latin1'));
  }

  /** Whether the first `length` bytes hold a needle: a file that names a method holds that method's tail. */
  private hasNeedle(length: number): boolean {
    const bytes = this.buffer.subarray(0, length);
    for (const needle of this.needles) {
      if (bytes.indexOf(needle) >= 0) {
        return true;
      }
    }
    return false;
  }

  /**
   * Reads the file into the buffer and returns its length in bytes, or -1 when it cannot be read. It
   * stops early, with a length over `limit`, once the file is known to be longer than `limit`.
   * Three system calls for a file that fits the buffer (no stat: the buffer is larger than most sources).
   */
  private read(file: string, limit: number): number {
    let fd: number;
    try {
      fd = openSync(file, OPEN_FLAGS);
    } catch {
      return -1;
    }
    try {
      let length = 0;
      for (;;) {
        if (length === this.buffer.length) {
          if (length > limit) {
            return length;
          }
          const grown = Buffer.allocUnsafe(this.buffer.length * 2);
          this.buffer.copy(grown, 0, 0, length);
          this.buffer = grown;
        }
        const wanted = this.buffer.length - length;
        const n = readSync(fd, this.buffer, length, wanted, null);
        length += n;
        // A read of a regular file returns less than asked only at its end: no second call to see 0.
        if (n < wanted) {
          return length;
        }
      }
    } catch {
      return -1;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Reads and indexes one file without a parse when it can: the same outcome as decoding the file and
   * calling WorkspaceIndex.indexText, except that a file needing a parse is handed back as text.
   */
  index(file: string, language: Language): ReadOutcome {
    // UTF-8 takes at most three bytes per UTF-16 unit: beyond that the text is certainly too long.
    const limit = 3 * this.maxFileSize;
    const length = this.read(file, limit);
    if (length < 0 || length > limit || this.buffer.subarray(0, Math.min(length, BINARY_PROBE)).indexOf(0) >= 0) {
      return NONE;
    }
    // Method names are ASCII, and ASCII bytes decode to themselves whatever surrounds them, so a name
    // is in the bytes (and in their Latin-1 reading) exactly when it is in the UTF-8 text. Most files
    // name no method: a few byte searches drop them without making a string.
    if (!this.hasNeedle(length) || !this.methods.mayHaveCalls(latin1(this.buffer, length))) {
      return NONE;
    }
    const text = utf8(this.buffer, length);
    if (text.length > this.maxFileSize) {
      return NONE;
    }
    const scanned = this.fastPath ? scanReferences(language, file, text, this.methods) : undefined;
    return scanned === undefined ? { kind: 'parse', text } : { kind: 'settled', index: scanned };
  }
}
