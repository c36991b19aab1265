import { z } from 'zod';
import { compileCondition } from '../eval/condition.js';
import { bidiControlIn } from '../text.js';
import { KEY_MAX_LENGTH, KEY_PATTERN, KEY_PATTERN_MESSAGE } from './keys.js';

/** Keys of flags, experiments, segments, metrics and environments: stable identifiers used in code. */
export const keySchema = z
  .string()
  .min(1, 'must not be empty')
  .max(KEY_MAX_LENGTH, `must be at most ${KEY_MAX_LENGTH} characters`)
  .regex(KEY_PATTERN, KEY_PATTERN_MESSAGE);

/** Attribute names may be dotted paths into nested context objects. */
export const attributeNameSchema = z.string().min(1).max(256);

/** Any JSON value (what a variation may serve). */
export const jsonValueSchema = z.json();
export type JsonValue = z.infer<typeof jsonValueSchema>;

/**
 * A MongoDB-style targeting condition. Its operators are checked by the condition compiler, which
 * names the offending path; the schema only requires a JSON object.
 */
export const conditionSchema = z.record(z.string(), z.json());
export type Condition = z.infer<typeof conditionSchema>;

/**
 * A condition as authored (flags, experiments, segments): also compiled, so unknown operators,
 * invalid regular expressions, regular expressions that can backtrack exponentially and malformed
 * operands are rejected when saved, not at evaluation.
 */
export const authoredConditionSchema = conditionSchema.superRefine((condition, ctx) => {
  for (const problem of compileCondition(condition, 'condition', { authoring: true }).problems) {
    ctx.addIssue({ code: 'custom', message: problem });
  }
});

export const fractionSchema = z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');

export const hashVersionSchema = z.union([z.literal(1), z.literal(2)]);

const EARLIEST_INSTANT = Date.parse('0001-01-01T00:00:00Z');
const LATEST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

/** An ISO 8601 instant with an offset, within years 1–9999 once in UTC: what PostgreSQL and every SDK can hold. */
export const isoDateSchema = z.iso.datetime({ offset: true }).refine(
  (text) => {
    const at = Date.parse(text);
    return at >= EARLIEST_INSTANT && at <= LATEST_INSTANT;
  },
  // Only for a well-formed instant: a malformed one gets the format's issue alone.
  { message: 'must be an instant between 0001-01-01 and 9999-12-31 (UTC)', when: (payload) => payload.issues.length === 0 },
);

/** Refuses bidirectional embeddings, overrides and isolates: they can reverse how a name and the text around it read. */
function refuseBidiControls(text: string, ctx: z.RefinementCtx<string>): void {
  const found = bidiControlIn(text);
  if (found !== undefined) {
    ctx.addIssue({ code: 'custom', message: `must not contain the bidirectional control character ${found}` });
  }
}

/** Names of definitions and environments, shown in the console and the CLI. */
export const nameSchema = z.string().min(1).max(200).superRefine(refuseBidiControls);

/** A variation's optional display name. */
export const variationNameSchema = z.string().max(200).superRefine(refuseBidiControls);

/** Tags: at most 64 characters (code points); no comma, which separates tags in the `?tag=` filter. */
export const tagsSchema = z
  .array(
    z
      .string()
      .min(1)
      .max(64)
      .regex(/^[^,]*$/, 'must not contain "," (the ?tag= filter separates tags with commas)')
      .superRefine(refuseBidiControls),
  )
  .max(50);

/** Formats zod issues as "path: message" lines, so schema errors name the field. */
export function formatIssues(error: z.ZodError, prefix = ''): string[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))]
      .filter((p) => p !== '')
      .join('.')
      .replace(/\.\[/g, '[');
    return `${path === '' ? '(root)' : path}: ${issue.message}`;
  });
}

/**
 * A refinement's `when`: zod skips refinements once any issue would stop parsing (a wrong type);
 * this runs them unless such an issue is in one of the `fields` they read, or at the object itself
 * (not an object at all), so one wrong type (`name: 5`) does not hide their problems (a variation
 * value, an unknown defaultVariation) and a document is reported whole.
 */
export function whenFieldsValid(...fields: readonly string[]): { when: (payload: z.core.ParsePayload) => boolean } {
  const read = new Set<PropertyKey>(fields);
  return {
    when: (payload) =>
      payload.issues.every((issue) => {
        // Issues zod itself goes on after (a pattern, a range, an unknown key) leave the value readable.
        if (issue.continue === true) {
          return true;
        }
        const top = issue.path?.[0];
        return top !== undefined && !read.has(top);
      }),
  };
}

/** Checks that every item's key is unique, reporting duplicates at their index. */
export function uniqueKeys<T>(items: readonly T[], keyOf: (item: T) => string, ctx: z.RefinementCtx, path: (string | number)[], what: string): void {
  const seen = new Set<string>();
  items.forEach((item, index) => {
    const key = keyOf(item);
    if (seen.has(key)) {
      ctx.addIssue({ code: 'custom', path: [...path, index], message: `duplicate ${what} "${key}"` });
    }
    seen.add(key);
  });
}
