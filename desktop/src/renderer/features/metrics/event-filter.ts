/**
 * A metric's event filter (`where`, see eventFilterSchema) as the form's rows — one "property
 * operator value" test each, all of which must hold — and back, and in words for the list.
 */
import type { EventFilter, EventFilterOperator } from '@xp/shared';

/** What a row tests. */
export const FilterOperator = {
  /** The property equals the value (`$eq`, or the bare value). */
  Is: 'is',
  /** The property differs from the value, or is missing (`$ne`). */
  IsNot: 'is-not',
  /** The property is one of a list (`$in`). */
  OneOf: 'one-of',
  /** The property is none of a list, or is missing (`$nin`). */
  NoneOf: 'none-of',
  /** Greater than a number, or after a text alphabetically (`$gt`). */
  Gt: 'gt',
  /** At least (`$gte`). */
  Gte: 'gte',
  /** Less than (`$lt`). */
  Lt: 'lt',
  /** At most (`$lte`). */
  Lte: 'lte',
  /** Present and not null (`$exists: true`). */
  IsSet: 'set',
  /** Missing or null (`$exists: false`). */
  IsNotSet: 'not-set',
} as const;
export type FilterOperator = (typeof FilterOperator)[keyof typeof FilterOperator];

export const FILTER_OPERATORS: readonly FilterOperator[] = Object.values(FilterOperator);

/** The operators in the words the form and the list use. */
export const OPERATOR_WORDS: Readonly<Record<FilterOperator, string>> = {
  [FilterOperator.Is]: 'is',
  [FilterOperator.IsNot]: 'is not',
  [FilterOperator.OneOf]: 'is one of',
  [FilterOperator.NoneOf]: 'is none of',
  [FilterOperator.Gt]: '>',
  [FilterOperator.Gte]: '≥',
  [FilterOperator.Lt]: '<',
  [FilterOperator.Lte]: '≤',
  [FilterOperator.IsSet]: 'is set',
  [FilterOperator.IsNotSet]: 'is not set',
};

const STORED: Readonly<Record<FilterOperator, EventFilterOperator>> = {
  [FilterOperator.Is]: '$eq',
  [FilterOperator.IsNot]: '$ne',
  [FilterOperator.OneOf]: '$in',
  [FilterOperator.NoneOf]: '$nin',
  [FilterOperator.Gt]: '$gt',
  [FilterOperator.Gte]: '$gte',
  [FilterOperator.Lt]: '$lt',
  [FilterOperator.Lte]: '$lte',
  [FilterOperator.IsSet]: '$exists',
  [FilterOperator.IsNotSet]: '$exists',
};

/** The JSON type of a row's value: the filter matches by type (the number 10 is not the text "10"). */
export type FilterValueType = 'text' | 'number' | 'boolean';

export const VALUE_TYPE_WORDS: Readonly<Record<FilterValueType, string>> = { text: 'text', number: 'number', boolean: 'true/false' };

export interface FilterRow {
  readonly id: string;
  readonly property: string;
  readonly operator: FilterOperator;
  /** As typed; a list is comma-separated, or one value per line. */
  readonly value: string;
  readonly valueType: FilterValueType;
  /** Stored as the bare value (`plan: 'pro'`), not `{ $eq: 'pro' }`: a loaded filter is sent back as it was. */
  readonly bare: boolean;
}

/** One filter of the form: its rows, or a stored filter the rows cannot show, which is kept as it is. */
export interface FilterDraft {
  readonly rows: readonly FilterRow[];
  readonly kept?: EventFilter;
}

/** The control of a row a problem is about (for its aria-invalid). */
export type FilterControl = 'property' | 'operator' | 'value' | 'valueType';

export interface RowProblem {
  readonly control: FilterControl;
  /** Plain words, without the row's name: "name the property", "\"ten\" is not a number". */
  readonly message: string;
}

export const isList = (op: FilterOperator): boolean => op === FilterOperator.OneOf || op === FilterOperator.NoneOf;
export const takesNoValue = (op: FilterOperator): boolean => op === FilterOperator.IsSet || op === FilterOperator.IsNotSet;
const isComparison = (op: FilterOperator): boolean => op === FilterOperator.Gt || op === FilterOperator.Gte || op === FilterOperator.Lt || op === FilterOperator.Lte;

/** The value types an operator takes: comparisons compare numbers or text, never true/false. */
export function valueTypesOf(op: FilterOperator): readonly FilterValueType[] {
  return takesNoValue(op) ? [] : isComparison(op) ? ['number', 'text'] : ['text', 'number', 'boolean'];
}

let counter = 0;
const newRowId = (): string => `filter-row-${++counter}`;

export function emptyFilterRow(): FilterRow {
  return { id: newRowId(), property: '', operator: FilterOperator.Is, value: '', valueType: 'text', bare: true };
}

/** A row with `patch` applied, its value type moved to one the (new) operator takes. */
export function patchRow(row: FilterRow, patch: Partial<Omit<FilterRow, 'id'>>): FilterRow {
  const next = { ...row, ...patch };
  const types = valueTypesOf(next.operator);
  if (types.length > 0 && !types.includes(next.valueType)) {
    // A true/false value compared with > is meaningless: a comparison starts as a number.
    return { ...next, valueType: types[0]!, value: next.valueType === 'boolean' ? '' : next.value };
  }
  // A single true/false value is chosen from a list of the two.
  if (next.valueType === 'boolean' && !isList(next.operator) && next.value !== 'true' && next.value !== 'false') {
    return { ...next, value: 'true' };
  }
  return next;
}

/** A decimal number as people type it ("72", "0.99", "-2", "1e3"); not hex, not "Infinity". */
export const DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

type Scalar = string | number | boolean;

function scalarOf(text: string, type: FilterValueType): { value: Scalar } | { problem: string } {
  const t = text.trim();
  if (type === 'number') {
    if (t === '') {
      return { problem: 'enter a number' };
    }
    return DECIMAL.test(t) && Number.isFinite(Number(t)) ? { value: Number(t) } : { problem: `"${t}" is not a number` };
  }
  if (type === 'boolean') {
    return t === 'true' || t === 'false' ? { value: t === 'true' } : { problem: `"${t}" is not true or false` };
  }
  // A single text value is matched exactly as typed; only its absence is refused.
  return text === '' ? { problem: 'enter a value' } : { value: text };
}

/** A list as typed: one value per line when there is more than one line, else comma-separated. */
function listItems(text: string): string[] {
  return (text.includes('\n') ? text.split('\n') : text.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

/** A row's stored test, or the problem with what was typed. */
function rowTest(row: FilterRow): { op: EventFilterOperator; value: Scalar | Scalar[] } | RowProblem {
  const op = STORED[row.operator];
  if (takesNoValue(row.operator)) {
    return { op, value: row.operator === FilterOperator.IsSet };
  }
  if (isList(row.operator)) {
    const items = listItems(row.value);
    if (items.length === 0) {
      return { control: 'value', message: 'list at least one value (comma-separated, or one per line)' };
    }
    // "1,000, 2,000" on one line would be the numbers 1, 0, 2 and 0: a comma between a digit and
    // three digits reads as a thousands separator, so it is asked about rather than guessed.
    const separator = row.valueType === 'number' && !row.value.includes('\n') ? /\d,(\d{3})(?!\d)/.exec(row.value) : null;
    if (separator !== null) {
      return { control: 'value', message: `"${separator[0]}" looks like a thousands separator, which would split the number in two: write numbers without one (1000), or one per line` };
    }
    const values: Scalar[] = [];
    for (const item of items) {
      const r = scalarOf(item, row.valueType);
      if ('problem' in r) {
        return { control: 'value', message: r.problem };
      }
      values.push(r.value);
    }
    return { op, value: values };
  }
  const r = scalarOf(row.value, row.valueType);
  return 'problem' in r ? { control: 'value', message: r.problem } : { op, value: r.value };
}

/** What a second test of the same operator on a property is told. */
function duplicateMessage(property: string, first: FilterRow, firstNumber: number, row: FilterRow): string {
  if (takesNoValue(row.operator)) {
    return `filter ${firstNumber} already says whether ${property} is set: keep one of them`;
  }
  const hint = row.operator === FilterOperator.Is || row.operator === FilterOperator.OneOf ? ' (for several values, use "is one of")' : '';
  return `filter ${firstNumber} already tests ${property} ${OPERATOR_WORDS[first.operator]}: a property takes each operator once${hint}`;
}

export interface BuiltFilter {
  /** Undefined when no row could be read (or there are none). */
  readonly where: EventFilter | undefined;
  /** By row index. */
  readonly problems: ReadonlyMap<number, RowProblem>;
}

/**
 * Rows → `where`. Rows on one property merge into one operator object (`{ amount: { $gte: 10, $lt:
 * 100 } }`), in the rows' order; a property's single "is" row written bare stays bare. The same
 * operator twice on a property is a problem of the second row.
 */
export function buildWhere(rows: readonly FilterRow[]): BuiltFilter {
  const problems = new Map<number, RowProblem>();
  const byProperty = new Map<string, { rows: FilterRow[]; tests: [EventFilterOperator, Scalar | Scalar[]][]; firstOf: Map<EventFilterOperator, number> }>();
  rows.forEach((row, i) => {
    const property = row.property.trim();
    if (property === '') {
      problems.set(i, { control: 'property', message: 'name the property' });
      return;
    }
    const test = rowTest(row);
    if ('control' in test) {
      problems.set(i, test);
      return;
    }
    const entry = byProperty.get(property) ?? { rows: [], tests: [], firstOf: new Map<EventFilterOperator, number>() };
    byProperty.set(property, entry);
    const first = entry.firstOf.get(test.op);
    if (first !== undefined) {
      problems.set(i, { control: 'operator', message: duplicateMessage(property, rows[first]!, first + 1, row) });
      return;
    }
    entry.firstOf.set(test.op, i);
    entry.rows.push(row);
    entry.tests.push([test.op, test.value]);
  });
  if (byProperty.size === 0) {
    return { where: undefined, problems };
  }
  const where = Object.fromEntries(
    [...byProperty].map(([property, { rows: own, tests }]) => {
      const [only] = own;
      const [test] = tests;
      const bare = own.length === 1 && only!.bare && only!.operator === FilterOperator.Is;
      return [property, bare ? (test![1] as Scalar) : Object.fromEntries(tests)];
    }),
  ) as EventFilter;
  return { where, problems };
}

function typeOf(v: unknown): FilterValueType | null {
  return typeof v === 'string' ? 'text' : typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'boolean' : null;
}

/** A list's values as the user would type them: comma-separated, or one per line when a value has a comma. */
function listText(values: readonly Scalar[]): string {
  const texts = values.map(String);
  // A single line would be split at its commas: one value with a comma ends with a new line.
  return texts.some((t) => t.includes(',')) ? `${texts.join('\n')}\n` : texts.join(', ');
}

const REVERSE: Readonly<Record<string, FilterOperator>> = Object.fromEntries(
  Object.entries(STORED)
    .filter(([, op]) => op !== '$exists')
    .map(([row, op]) => [op, row as FilterOperator]),
);

/** One stored property test → rows, or null when it takes a shape the rows do not have. */
function propertyRows(property: string, test: unknown): FilterRow[] | null {
  const row = (operator: FilterOperator, value: unknown, bare = false): FilterRow | null => {
    const type = typeOf(value);
    return type === null ? null : { id: newRowId(), property, operator, value: String(value), valueType: type, bare };
  };
  if (typeof test !== 'object' || test === null) {
    const one = row(FilterOperator.Is, test, true);
    return one === null ? null : [one];
  }
  if (Array.isArray(test)) {
    return null;
  }
  const rows: FilterRow[] = [];
  for (const [op, value] of Object.entries(test)) {
    if (value === undefined) {
      continue;
    }
    let next: FilterRow | null = null;
    if (op === '$exists' && typeof value === 'boolean') {
      next = { id: newRowId(), property, operator: value ? FilterOperator.IsSet : FilterOperator.IsNotSet, value: '', valueType: 'text', bare: false };
    } else if ((op === '$in' || op === '$nin') && Array.isArray(value)) {
      const types = new Set(value.map(typeOf));
      const [only] = [...types];
      next = types.size === 1 && only !== null && only !== undefined ? { id: newRowId(), property, operator: REVERSE[op]!, value: listText(value as Scalar[]), valueType: only, bare: false } : null;
    } else if (REVERSE[op] !== undefined && !isList(REVERSE[op])) {
      next = row(REVERSE[op], value);
    }
    if (next === null) {
      return null;
    }
    rows.push(next);
  }
  return rows;
}

/**
 * A stored `where` → the form's filter: rows when building them back gives exactly the stored
 * filter (same properties, operators, values, types and order), else the filter kept as it is.
 */
export function filterDraftOf(where: EventFilter | undefined): FilterDraft {
  if (where === undefined) {
    return { rows: [] };
  }
  const rows: FilterRow[] = [];
  for (const [property, test] of Object.entries(where)) {
    const own = propertyRows(property, test);
    if (own === null) {
      return { rows: [], kept: where };
    }
    rows.push(...own);
  }
  const back = buildWhere(rows);
  return back.problems.size === 0 && JSON.stringify(back.where) === JSON.stringify(where) ? { rows } : { rows: [], kept: where };
}

/** The filter the form sends: the one kept as it was, or the rows'. */
export function builtFilter(draft: FilterDraft): BuiltFilter {
  return draft.kept === undefined ? buildWhere(draft.rows) : { where: draft.kept, problems: new Map() };
}

/**
 * The row a problem at `property` (and `op`, a stored operator such as "$gte") of the filter is
 * about, and its control: the row of that property and operator, else the property's first row.
 */
export function rowOfIssue(rows: readonly FilterRow[], property: string, op: string | undefined, aboutKey: boolean): { index: number; control: FilterControl } | undefined {
  const own = rows.map((row, index) => ({ row, index })).filter(({ row }) => row.property.trim() === property);
  const exact = op === undefined ? undefined : own.find(({ row }) => STORED[row.operator] === op);
  const found = exact ?? own[0];
  if (found === undefined) {
    return undefined;
  }
  return { index: found.index, control: aboutKey ? 'property' : 'value' };
}

/** A property and operator out of the text of an API path below `where` ("user.plan.$in[0]"), the property being one of the rows'. */
export function splitIssuePath(rows: readonly FilterRow[], rest: string): { property: string; op: string | undefined } | undefined {
  const names = [...new Set(rows.map((r) => r.property.trim()))].sort((a, b) => b.length - a.length);
  const property = names.find((p) => rest === p || rest.startsWith(`${p}.`) || rest.startsWith(`${p}[`));
  if (property === undefined) {
    return undefined;
  }
  const op = /^\.(\$[a-z]+)/.exec(rest.slice(property.length))?.[1];
  return { property, op };
}

/** A value in the list's words: text bare unless it could be read as something else ("10", "", " pro"). */
function valueWords(v: unknown): string {
  if (typeof v !== 'string') {
    return String(v);
  }
  const ambiguous = v === '' || v !== v.trim() || DECIMAL.test(v) || v === 'true' || v === 'false' || /[,"]| and /.test(v);
  return ambiguous ? JSON.stringify(v) : v;
}

const OP_WORDS: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(REVERSE).map(([op, row]) => [op, OPERATOR_WORDS[row]]));

/** A filter in words: "plan is pro and amount ≥ 10 and amount < 100", "country is one of DE, FR". */
export function filterText(where: EventFilter): string {
  const clauses: string[] = [];
  for (const [property, test] of Object.entries(where)) {
    if (typeof test !== 'object') {
      clauses.push(`${property} is ${valueWords(test)}`);
      continue;
    }
    for (const [op, value] of Object.entries(test)) {
      if (value === undefined) {
        continue;
      }
      if (op === '$exists') {
        clauses.push(`${property} ${value === true ? 'is set' : 'is not set'}`);
      } else {
        clauses.push(`${property} ${OP_WORDS[op] ?? op} ${Array.isArray(value) ? value.map(valueWords).join(', ') : valueWords(value)}`);
      }
    }
  }
  return clauses.join(' and ');
}
