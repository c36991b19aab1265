import { describe, expect, it } from 'vitest';
import { embeddedFailureReason } from '../embedded-database.js';

/**
 * What PGlite throws when its folder's disk is full, observed on a 30 MB tmpfs: Emscripten's
 * ErrnoError, a plain object `{ name: 'ErrnoError', errno: 51 }` with no message, which `xp start`
 * printed as "could not be opened: [object Object]".
 */
const errnoError = (errno: number): object => Object.assign(Object.create(null) as object, { name: 'ErrnoError', errno });

describe('why the embedded database could not be opened', () => {
  it('names the file-system error PGlite threw as a bare errno object', () => {
    expect(embeddedFailureReason(errnoError(51))).toBe('file system error: no space left on the device (ENOSPC)');
    expect(embeddedFailureReason(new Error('open failed', { cause: errnoError(69) }))).toBe('file system error: the file system is read-only (EROFS)');
    expect(embeddedFailureReason(errnoError(7))).toBe('file system error: error number 7');
  });

  it("gives an error's first line, its cause's when that is an error", () => {
    expect(embeddedFailureReason(new Error('first line\nsecond line'))).toBe('first line');
    expect(embeddedFailureReason(new Error('wrapper', { cause: new Error('the real reason') }))).toBe('the real reason');
    expect(embeddedFailureReason(new Error('wrapper', { cause: 'a string' }))).toBe('wrapper');
    expect(embeddedFailureReason('x'.repeat(400))).toHaveLength(300);
  });
});
