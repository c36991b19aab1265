/**
 * The protocol's line model (LSP 3.17, Text Documents): a line ends at '\n', '\r\n' or '\r'. The
 * parser and the lexical scanner count lines at '\n' only, which agrees with it unless the text has a
 * carriage return that no line feed follows (a stray one pasted into a comment, a classic-Mac file).
 * Such a text is rare and cheap to tell: only then are positions mapped through a table of line starts.
 */
import type { Position } from './types.js';

/** Whether `text` has a carriage return not followed by a line feed: a line end '\n'-counting misses. */
export function hasLoneCarriageReturn(text: string): boolean {
  for (let k = text.indexOf('\r'); k >= 0; k = text.indexOf('\r', k + 1)) {
    if (text.charCodeAt(k + 1) !== 10) {
      return true;
    }
  }
  return false;
}

/** The lines of `text` as the protocol splits them, without their line ends. */
export function linesOf(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

/** A function from a UTF-16 offset in `text` to its position in the protocol's line model. */
export function positionsIn(text: string): (offset: number) => Position {
  const starts = [0];
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c === 13) {
      if (text.charCodeAt(k + 1) === 10) {
        k++;
      }
      starts.push(k + 1);
    } else if (c === 10) {
      starts.push(k + 1);
    }
  }
  return (offset: number): Position => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return { line: lo, character: offset - starts[lo]! };
  };
}
