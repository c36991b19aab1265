/**
 * Nesting depth checked on the JSON text, before JSON.parse: parsing megabytes of `[[[[…` costs a
 * second of the main thread (and builds millions of arrays) only for the depth check after it to
 * refuse the result. One linear pass, no allocation, refuses it first.
 */
import { AppError, AppErrorCode } from '../errors.js';

/** Deepest nesting a request body may have (values below the root; the root is depth 0). */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * Whether `text` opens a container (array or object) deeper than `maxDepth`, with depths counted as
 * findBadJson counts them (the root value 0, its items 1, …): the `maxDepth + 2`-th container
 * opened inside the others. Brackets and braces inside strings (escapes included) do not count.
 * The text need not be valid JSON: malformed text is left for JSON.parse to refuse.
 */
export function exceedsJsonDepth(text: string, maxDepth: number = MAX_JSON_DEPTH): boolean {
  let open = 0;
  let inString = false;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === BACKSLASH) {
        // The escaped character (`\"`, `\\`) is skipped; `\uXXXX`'s hex digits are never quotes.
        i++;
      } else if (ch === QUOTE) {
        inString = false;
      }
    } else if (ch === QUOTE) {
      inString = true;
    } else if (ch === OPEN_BRACKET || ch === OPEN_BRACE) {
      open++;
      // The n-th open container is a value at depth n - 1.
      if (open - 1 > maxDepth) {
        return true;
      }
    } else if (ch === CLOSE_BRACKET || ch === CLOSE_BRACE) {
      open--;
    }
  }
  return false;
}

/** The error a too deeply nested body gets: the same as the check after parsing gives. */
export function tooDeeplyNested(maxDepth: number = MAX_JSON_DEPTH): AppError {
  return new AppError(AppErrorCode.Validation, `the body is nested more than ${maxDepth} levels deep`, { issues: [{ path: 'body', message: 'too deeply nested' }] });
}

/** Throws 400 (VALIDATION_FAILED) when `text` nests deeper than `maxDepth`; call it before JSON.parse. */
export function refuseDeepJson(text: string, maxDepth: number = MAX_JSON_DEPTH): void {
  if (exceedsJsonDepth(text, maxDepth)) {
    throw tooDeeplyNested(maxDepth);
  }
}
