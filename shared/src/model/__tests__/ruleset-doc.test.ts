import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { rulesetExperimentSchema, rulesetFlagSchema, rulesetHoldoutSchema, rulesetRuleSchema, rulesetSchema } from '../ruleset.js';

/**
 * docs/sdk-protocol.md documents the ruleset for people writing an SDK in another language. These
 * tests keep it from falling behind the format: every field of the ruleset's zod schemas (and every
 * rule type) must be named in it, in backquotes, and its example must be a valid ruleset.
 */

const DOC = readFileSync(fileURLToPath(new URL('../../../../docs/sdk-protocol.md', import.meta.url)), 'utf8');

/** The parts of a zod 4 schema's definition the walk reads. */
interface SchemaDef {
  readonly type: string;
  readonly shape?: Readonly<Record<string, unknown>>;
  readonly innerType?: unknown;
  readonly element?: unknown;
  readonly valueType?: unknown;
  readonly options?: readonly unknown[];
  readonly items?: readonly unknown[];
  readonly values?: readonly unknown[];
  readonly in?: unknown;
  readonly out?: unknown;
}

function defOf(schema: unknown): SchemaDef {
  return (schema as { _zod: { def: SchemaDef } })._zod.def;
}

/**
 * Every object field name under `schema` (path → name), and every string literal a `type` field
 * takes (the rule types). Lazy schemas (JSON values) hold no fields and are not entered.
 */
function fieldsOf(schema: unknown, path: string, out: Map<string, string>, seen = new Set<unknown>()): Map<string, string> {
  if (seen.has(schema)) {
    return out;
  }
  seen.add(schema);
  const def = defOf(schema);
  const inner = (s: unknown, p: string): void => {
    fieldsOf(s, p, out, seen);
  };
  switch (def.type) {
    case 'object':
      for (const [name, field] of Object.entries(def.shape ?? {})) {
        out.set(`${path}.${name}`, name);
        if (name === 'type') {
          for (const value of literalStrings(field)) {
            out.set(`${path}.type=${value}`, value);
          }
        }
        inner(field, `${path}.${name}`);
      }
      break;
    case 'optional':
    case 'nullable':
    case 'default':
    case 'readonly':
      inner(def.innerType, path);
      break;
    case 'array':
      inner(def.element, `${path}[]`);
      break;
    case 'record':
      inner(def.valueType, `${path}.*`);
      break;
    case 'union':
      (def.options ?? []).forEach((option) => {
        inner(option, path);
      });
      break;
    case 'tuple':
      (def.items ?? []).forEach((item, i) => {
        inner(item, `${path}[${i}]`);
      });
      break;
    case 'pipe':
      inner(def.in, path);
      inner(def.out, path);
      break;
    default:
      break;
  }
  return out;
}

function literalStrings(schema: unknown): string[] {
  const def = defOf(schema);
  return def.type === 'literal' ? (def.values ?? []).filter((v): v is string => typeof v === 'string') : [];
}

/** Names the doc gives in backquotes: `name`, also inside `{ a, b }` or `[a, b]`. */
function mentioned(name: string): boolean {
  return new RegExp('`[^`\\n]*\\b' + name.replace(/[$]/g, '\\$') + '\\b[^`\\n]*`').test(DOC);
}

const SCHEMAS = {
  ruleset: rulesetSchema,
  flag: rulesetFlagSchema,
  rule: rulesetRuleSchema,
  experiment: rulesetExperimentSchema,
  holdout: rulesetHoldoutSchema,
};

describe('docs/sdk-protocol.md and the ruleset schema', () => {
  const fields = new Map<string, string>();
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    fieldsOf(schema, name, fields);
  }

  it('walks the whole schema (so the check below cannot pass by finding nothing)', () => {
    const names = new Set(fields.values());
    const expected = ['schemaVersion', 'savedGroups', 'holdouts', 'on', 'default', 'off', 'prerequisites', 'from', 'until', 'schedule', 'weights', 'fallbackAttribute', 'namespace', 'minBucketVersion', 'urlOverride', 'force', 'rollout', 'split', 'experiment', 'url'];
    expect(expected.filter((name) => !names.has(name))).toEqual([]);
    expect(fields.has('ruleset.flags.*.rules[].schedule')).toBe(true);
    expect(fields.has('ruleset.experiments.*.sticky.bucketVersion')).toBe(true);
  });

  it('names every field of the ruleset, its flags, rules, experiments and holdouts, and every rule type', () => {
    const missing = [...fields].filter(([, name]) => !mentioned(name)).map(([path]) => path);
    expect(missing, `fields of the ruleset schema that docs/sdk-protocol.md does not name in backquotes: ${missing.join(', ')}`).toEqual([]);
  });

  it('gives an example that is a valid ruleset', () => {
    const examples = [...DOC.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').filter((text) => text.includes('"schemaVersion"'));
    expect(examples.length).toBeGreaterThan(0);
    for (const text of examples) {
      const parsed = rulesetSchema.safeParse(JSON.parse(text));
      expect(parsed.error?.issues ?? []).toEqual([]);
    }
  });
});
