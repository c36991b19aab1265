import { SEARCH_FOLD_DROPPED } from '@xp/shared/edge';

/**
 * A WHERE clause for list searches: whether any of `columns` contains `term`, both folded in SQL as
 * `searchFold` folds them in the console (NFKD, lowercase, no combining marks or zero-width
 * characters, ß as ss). Appends its parameters to `params`. A substring test (strpos), not LIKE: "%" and "_"
 * match literally, even as the full-width forms NFKD turns into them.
 */
export function foldedSearch(columns: readonly string[], term: string, params: unknown[]): string {
  params.push(SEARCH_FOLD_DROPPED);
  const dropped = `$${params.length}::text`;
  // lower() turns the capital ẞ into ß; replace() then folds ß to "ss", as searchFold does.
  const fold = (expr: string): string => `replace(regexp_replace(lower(normalize(${expr}, NFKD)), ${dropped}, '', 'g'), 'ß', 'ss')`;
  params.push(term);
  const needle = fold(`$${params.length}::text`);
  return `(${columns.map((column) => `strpos(${fold(column)}, ${needle}) > 0`).join(' OR ')})`;
}
