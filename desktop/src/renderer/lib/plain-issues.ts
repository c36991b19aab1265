/**
 * Validation problems in plain words under a form's fields: "Name is required", "Name: at most 200
 * characters (this one has 5,000)". From a schema's own issues (`safeParse` on the draft, so the
 * limits are the shared schema's, never repeated here) and from the messages the API sends back,
 * which carry only zod's text ("Too big: expected string to have <=200 characters").
 */

/** The parts of a zod issue the wording reads (structural, so forms need not import zod's types). */
export interface SchemaIssue {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly origin?: string;
  readonly minimum?: number | bigint;
  readonly maximum?: number | bigint;
  readonly inclusive?: boolean;
}

const count = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 6 });

/** How long a value is in the unit its limit counts (characters, items), if it has one. */
function sizeOf(value: unknown): number | undefined {
  return typeof value === 'string' || Array.isArray(value) ? value.length : undefined;
}

/** ", this one has 5,000" when the value is known and breaks the limit. */
function has(value: unknown, breaks: (size: number) => boolean): string {
  const size = sizeOf(value);
  return size !== undefined && breaks(size) ? ` (this one has ${count.format(size)})` : '';
}

/** One schema issue of the field `label`, in plain words; `value` is the field's value (for its length). */
export function plainIssue(label: string, issue: SchemaIssue, value: unknown): string {
  const unit = issue.origin === 'string' ? 'characters' : issue.origin === 'array' || issue.origin === 'set' ? 'items' : undefined;
  if (issue.code === 'too_small' && issue.minimum !== undefined) {
    const min = Number(issue.minimum);
    if (unit === undefined) {
      return `${label}: ${issue.inclusive === false ? 'more than' : 'at least'} ${number.format(min)}`;
    }
    if (unit === 'characters' && min <= 1) {
      return `${label} is required`;
    }
    return `${label}: at least ${count.format(min)} ${unit}${has(value, (n) => n < min)}`;
  }
  if (issue.code === 'too_big' && issue.maximum !== undefined) {
    const max = Number(issue.maximum);
    if (unit === undefined) {
      return `${label}: ${issue.inclusive === false ? 'less than' : 'at most'} ${number.format(max)}`;
    }
    return `${label}: at most ${count.format(max)} ${unit}${has(value, (n) => n > max)}`;
  }
  return `${label}: ${issue.message}`;
}

/** zod's default texts and the shared schemas' own ones, back to the issue they describe. */
const API_MESSAGES: readonly [RegExp, (m: RegExpExecArray) => Omit<SchemaIssue, 'path' | 'message'>][] = [
  [/^Too small: expected (string|array|set) to have >=?(\d+) (?:characters?|items?)$/, (m) => ({ code: 'too_small', origin: m[1] ?? 'string', minimum: Number(m[2]) })],
  [/^Too big: expected (string|array|set) to have <=?(\d+) (?:characters?|items?)$/, (m) => ({ code: 'too_big', origin: m[1] ?? 'string', maximum: Number(m[2]) })],
  [/^Too small: expected number to be (>=?)(-?[\d.e+-]+)$/, (m) => ({ code: 'too_small', origin: 'number', minimum: Number(m[2]), inclusive: m[1] === '>=' })],
  [/^Too big: expected number to be (<=?)(-?[\d.e+-]+)$/, (m) => ({ code: 'too_big', origin: 'number', maximum: Number(m[2]), inclusive: m[1] === '<=' })],
  [/^must not be empty$/, () => ({ code: 'too_small', origin: 'string', minimum: 1 })],
  [/^must be at most (\d+) characters$/, (m) => ({ code: 'too_big', origin: 'string', maximum: Number(m[1]) })],
];

/**
 * A validation message the API sent for the field `label` (it has no issue codes, only text), in
 * the wording of plainIssue; a message it does not recognise follows the label as it is.
 */
export function plainApiMessage(label: string, message: string, value: unknown): string {
  for (const [pattern, issueOf] of API_MESSAGES) {
    const match = pattern.exec(message);
    if (match !== null) {
      return plainIssue(label, { ...issueOf(match), path: [], message }, value);
    }
  }
  return `${label}: ${message}`;
}

/**
 * The first problem of each field of `labels` (top-level names) among a schema's issues, in plain
 * words; issues of other fields are left out (the API reports them if they matter).
 */
export function plainFieldIssues(issues: readonly SchemaIssue[], labels: Readonly<Record<string, string>>, values: Readonly<Record<string, unknown>>): Map<string, string> {
  const out = new Map<string, string>();
  for (const issue of issues) {
    const field = issue.path[0];
    if (typeof field !== 'string' || !Object.hasOwn(labels, field) || out.has(field)) {
      continue;
    }
    out.set(field, plainIssue(labels[field]!, issue, issue.path.length === 1 ? values[field] : undefined));
  }
  return out;
}
