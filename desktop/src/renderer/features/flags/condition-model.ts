/**
 * The condition builder's rows and their conversion to and from the MongoDB-style conditions and
 * segment lists that rules store. Conditions the rows cannot express stay as JSON ("advanced").
 */

/** An attribute name a condition can test: letters, digits, "_", "-" and "." for nested fields, starting with a letter or "_". */
export const ATTRIBUTE_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** What a row tests. */
export const Operator = {
  /** Attribute equals the value. */
  Eq: 'eq',
  /** Attribute differs from the value. */
  Ne: 'ne',
  /** Attribute is one of a comma-separated list. */
  In: 'in',
  /** Attribute is none of a comma-separated list. */
  Nin: 'nin',
  Gt: 'gt',
  Gte: 'gte',
  Lt: 'lt',
  Lte: 'lte',
  /** Text contains the value (a regular expression of the escaped value). */
  Contains: 'contains',
  /** Text matches a regular expression. */
  Regex: 'regex',
  /** Attribute is present. */
  Exists: 'exists',
  /** Attribute is absent. */
  NotExists: 'not-exists',
  /** Semantic version at least the value. */
  VersionGte: 'vgte',
  /** Semantic version below the value. */
  VersionLt: 'vlt',
  /** The unit is in a saved segment. */
  InSegment: 'in-segment',
  /** The unit is not in a saved segment. */
  NotInSegment: 'not-in-segment',
} as const;
export type Operator = (typeof Operator)[keyof typeof Operator];

export const OPERATOR_LABELS: Readonly<Record<Operator, string>> = {
  [Operator.Eq]: 'is',
  [Operator.Ne]: 'is not',
  [Operator.In]: 'is one of',
  [Operator.Nin]: 'is none of',
  [Operator.Gt]: '>',
  [Operator.Gte]: '≥',
  [Operator.Lt]: '<',
  [Operator.Lte]: '≤',
  [Operator.Contains]: 'contains',
  [Operator.Regex]: 'matches regex',
  [Operator.Exists]: 'is set',
  [Operator.NotExists]: 'is not set',
  [Operator.VersionGte]: 'version ≥',
  [Operator.VersionLt]: 'version <',
  [Operator.InSegment]: 'in segment',
  [Operator.NotInSegment]: 'not in segment',
};

export type ValueType = 'string' | 'number' | 'boolean';

export interface ConditionRow {
  readonly id: string;
  readonly attribute: string;
  readonly operator: Operator;
  /** As typed; lists are comma-separated. */
  readonly value: string;
  readonly valueType: ValueType;
}

export interface Targeting {
  readonly condition?: Record<string, unknown>;
  readonly segments?: string[];
  readonly excludeSegments?: string[];
}

const MONGO: Partial<Record<Operator, string>> = {
  [Operator.Eq]: '$eq',
  [Operator.Ne]: '$ne',
  [Operator.In]: '$in',
  [Operator.Nin]: '$nin',
  [Operator.Gt]: '$gt',
  [Operator.Gte]: '$gte',
  [Operator.Lt]: '$lt',
  [Operator.Lte]: '$lte',
  [Operator.Regex]: '$regex',
  [Operator.VersionGte]: '$vgte',
  [Operator.VersionLt]: '$vlt',
};

export const isSegmentOperator = (op: Operator): boolean => op === Operator.InSegment || op === Operator.NotInSegment;
export const takesNoValue = (op: Operator): boolean => op === Operator.Exists || op === Operator.NotExists;
const isList = (op: Operator): boolean => op === Operator.In || op === Operator.Nin;

let counter = 0;
export const newRowId = (): string => `row-${++counter}`;

export function emptyRow(): ConditionRow {
  return { id: newRowId(), attribute: '', operator: Operator.Eq, value: '', valueType: 'string' };
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const unescapeLiteral = (s: string): string | null => (/(?<!\\)[.*+?^${}()|[\]]/.test(s) ? null : s.replace(/\\(.)/g, '$1'));

function typed(text: string, type: ValueType): { value: string | number | boolean } | { error: string } {
  const t = text.trim();
  if (type === 'number') {
    const n = Number(t);
    return t !== '' && Number.isFinite(n) ? { value: n } : { error: `"${text}" is not a number` };
  }
  if (type === 'boolean') {
    return t === 'true' || t === 'false' ? { value: t === 'true' } : { error: 'choose true or false' };
  }
  return { value: text };
}

/** Problems per row id; an empty map means the rows convert cleanly. */
export function validateRows(rows: readonly ConditionRow[]): Map<string, string> {
  const problems = new Map<string, string>();
  for (const row of rows) {
    if (isSegmentOperator(row.operator)) {
      if (row.value.trim() === '') {
        problems.set(row.id, 'choose a segment');
      }
      continue;
    }
    if (!ATTRIBUTE_NAME_PATTERN.test(row.attribute.trim())) {
      problems.set(row.id, 'name the attribute (letters, digits, "_", "-" and "." for nested fields)');
      continue;
    }
    if (takesNoValue(row.operator)) {
      continue;
    }
    if (row.operator === Operator.Regex) {
      try {
        new RegExp(row.value);
      } catch {
        problems.set(row.id, 'not a valid regular expression');
      }
      continue;
    }
    if ((row.operator === Operator.VersionGte || row.operator === Operator.VersionLt) && row.valueType !== 'string') {
      problems.set(row.id, 'a version is text: choose the text value type (2.3.0)');
      continue;
    }
    if ((row.operator === Operator.Gt || row.operator === Operator.Gte || row.operator === Operator.Lt || row.operator === Operator.Lte) && row.valueType === 'boolean') {
      problems.set(row.id, 'compare with a number or text, not true or false');
      continue;
    }
    const parts = isList(row.operator) ? row.value.split(',') : [row.value];
    for (const part of parts) {
      const r = typed(part, row.valueType);
      if ('error' in r) {
        problems.set(row.id, r.error);
        break;
      }
    }
    if (!problems.has(row.id) && row.valueType === 'string' && row.value === '' && !isList(row.operator)) {
      problems.set(row.id, 'enter a value');
    }
  }
  return problems;
}

/** The field of a row a problem of validateRows is about, for its aria-invalid. */
export type ProblemField = 'attribute' | 'segment' | 'value' | 'valueType';

/** Which field of `row` its problem (validateRows) is about: the checks above, in their order. */
export function problemField(row: ConditionRow): ProblemField {
  if (isSegmentOperator(row.operator)) {
    return 'segment';
  }
  if (!ATTRIBUTE_NAME_PATTERN.test(row.attribute.trim())) {
    return 'attribute';
  }
  const versus = (row.operator === Operator.VersionGte || row.operator === Operator.VersionLt) && row.valueType !== 'string';
  const ordered = (row.operator === Operator.Gt || row.operator === Operator.Gte || row.operator === Operator.Lt || row.operator === Operator.Lte) && row.valueType === 'boolean';
  return versus || ordered ? 'valueType' : 'value';
}

function rowClause(row: ConditionRow): [string, Record<string, unknown>] {
  const attribute = row.attribute.trim();
  switch (row.operator) {
    case Operator.Exists:
      return [attribute, { $exists: true }];
    case Operator.NotExists:
      return [attribute, { $exists: false }];
    case Operator.Contains:
      return [attribute, { $regex: escapeRegex(row.value) }];
    case Operator.Regex:
      return [attribute, { $regex: row.value }];
    default: {
      const mongo = MONGO[row.operator] ?? '$eq';
      const one = (s: string): unknown => {
        const r = typed(s, row.valueType);
        return 'value' in r ? r.value : s;
      };
      const value = isList(row.operator) ? row.value.split(',').map((s) => one(s.trim())) : one(row.valueType === 'string' ? row.value : row.value.trim());
      return [attribute, { [mongo]: value }];
    }
  }
}

/** Rows → the rule's condition and segment lists. Call validateRows first. */
export function rowsToTargeting(rows: readonly ConditionRow[]): Targeting {
  const segments = rows.filter((r) => r.operator === Operator.InSegment).map((r) => r.value.trim());
  const excludeSegments = rows.filter((r) => r.operator === Operator.NotInSegment).map((r) => r.value.trim());
  const clauses = rows.filter((r) => !isSegmentOperator(r.operator)).map(rowClause);
  let condition: Record<string, unknown> | undefined;
  if (clauses.length > 0) {
    const merged: Record<string, Record<string, unknown>> = {};
    let clash = false;
    for (const [attribute, ops] of clauses) {
      const existing = merged[attribute] ?? {};
      for (const op of Object.keys(ops)) {
        if (op in existing) {
          clash = true;
        }
      }
      merged[attribute] = { ...existing, ...ops };
    }
    condition = clash ? { $and: clauses.map(([a, ops]) => ({ [a]: ops })) } : merged;
  }
  return {
    ...(condition === undefined ? {} : { condition }),
    ...(segments.length === 0 ? {} : { segments }),
    ...(excludeSegments.length === 0 ? {} : { excludeSegments }),
  };
}

const REVERSE: Record<string, Operator> = Object.fromEntries(Object.entries(MONGO).map(([k, v]) => [v, k as Operator]));

function valueType(v: unknown): ValueType | null {
  if (typeof v === 'number') {
    return 'number';
  }
  if (typeof v === 'boolean') {
    return 'boolean';
  }
  return typeof v === 'string' ? 'string' : null;
}

function clauseRows(attribute: string, spec: unknown): ConditionRow[] | null {
  if (attribute.startsWith('$')) {
    return null;
  }
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    const type = valueType(spec);
    return type === null ? null : [{ id: newRowId(), attribute, operator: Operator.Eq, value: String(spec), valueType: type }];
  }
  const entries = Object.entries(spec as Record<string, unknown>);
  if (entries.length === 0 || entries.some(([k]) => !k.startsWith('$'))) {
    return null;
  }
  const rows: ConditionRow[] = [];
  for (const [op, v] of entries) {
    if (op === '$exists' && typeof v === 'boolean') {
      rows.push({ id: newRowId(), attribute, operator: v ? Operator.Exists : Operator.NotExists, value: '', valueType: 'string' });
    } else if (op === '$regex' && typeof v === 'string') {
      const literal = unescapeLiteral(v);
      rows.push({ id: newRowId(), attribute, operator: literal === null ? Operator.Regex : Operator.Contains, value: literal ?? v, valueType: 'string' });
    } else if ((op === '$in' || op === '$nin') && Array.isArray(v)) {
      const types = new Set(v.map(valueType));
      const [only] = [...types];
      if (types.size > 1 || only === null || v.some((x) => typeof x === 'string' && x.includes(','))) {
        return null;
      }
      rows.push({ id: newRowId(), attribute, operator: REVERSE[op]!, value: v.map(String).join(', '), valueType: only ?? 'string' });
    } else if (REVERSE[op] !== undefined && !Array.isArray(v)) {
      const type = valueType(v);
      if (type === null) {
        return null;
      }
      rows.push({ id: newRowId(), attribute, operator: REVERSE[op], value: String(v), valueType: type });
    } else {
      return null;
    }
  }
  return rows;
}

/** A stored rule's targeting → rows, or null rows when the condition needs the JSON editor. */
export function targetingToRows(t: Targeting): { rows: ConditionRow[]; advanced: Record<string, unknown> | null } {
  const segmentRows = [
    ...(t.segments ?? []).map((s): ConditionRow => ({ id: newRowId(), attribute: '', operator: Operator.InSegment, value: s, valueType: 'string' })),
    ...(t.excludeSegments ?? []).map((s): ConditionRow => ({ id: newRowId(), attribute: '', operator: Operator.NotInSegment, value: s, valueType: 'string' })),
  ];
  if (t.condition === undefined || Object.keys(t.condition).length === 0) {
    return { rows: segmentRows, advanced: null };
  }
  const parts: [string, unknown][] =
    Object.keys(t.condition).length === 1 && Array.isArray(t.condition.$and)
      ? (t.condition.$and as unknown[]).flatMap((c) => (typeof c === 'object' && c !== null ? Object.entries(c) : [['$bad', c] as [string, unknown]]))
      : Object.entries(t.condition);
  const rows: ConditionRow[] = [];
  for (const [attribute, spec] of parts) {
    const r = clauseRows(attribute, spec);
    if (r === null) {
      return { rows: segmentRows, advanced: t.condition };
    }
    rows.push(...r);
  }
  return { rows: [...rows, ...segmentRows], advanced: null };
}
