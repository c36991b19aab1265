/**
 * Text helpers shared by the API, the stores and the console. Zod-free and browser-safe.
 */

/**
 * What search folding drops after NFKD and lowercasing, as a regular-expression character class:
 * combining marks (accents, the dot of "İ") and zero-width characters. The stores pass it to
 * PostgreSQL's `regexp_replace`, so the API and the console fold alike.
 */
export const SEARCH_FOLD_DROPPED =
  '[\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u20D0-\u20FF\uFE20-\uFE2F\u200B-\u200D\u2060\uFEFF]';

const DROPPED = new RegExp(SEARCH_FOLD_DROPPED, 'gu');

/** Folds text for case- and accent-insensitive search: "İstanbul", "ISTANBUL" and "istanbul" fold alike; "ß" folds to "ss" (Unicode case folding), so "STRASSE" finds "Straße". */
export function searchFold(text: string): string {
  return text.normalize('NFKD').toLowerCase().replace(DROPPED, '').replaceAll('ß', 'ss');
}

// Embeddings and overrides (U+202A–U+202E) and isolates (U+2066–U+2069).
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/u;

/** The first bidirectional embedding, override or isolate in `text` as "U+202E", if any. */
export function bidiControlIn(text: string): string | undefined {
  const found = BIDI_CONTROL.exec(text)?.[0];
  return found === undefined ? undefined : `U+${found.codePointAt(0)?.toString(16).toUpperCase().padStart(4, '0') ?? ''}`;
}
