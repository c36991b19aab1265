import { experimentVariationSchema } from '@xp/shared';

/** A variation as the wizard edits it: its weight in percent of covered traffic. */
export interface VariationDraft {
  readonly key: string;
  readonly name: string;
  /** Percent of covered traffic (the input's number; NaN when it holds none). */
  readonly weight: number;
}

/** What is wrong with the variations, and the field it is about (`index` of the variation; none for the split as a whole). */
export interface VariationIssue {
  readonly index?: number;
  readonly field?: 'key' | 'name' | 'weight';
  readonly message: string;
}

// The API's rules for keys (shared/src/model/keys.ts).
const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const KEY_MAX_LENGTH = 128;
/** The API's limit on a variation's name, from its schema. */
const NAME_MAX_LENGTH = experimentVariationSchema.shape.name.unwrap().maxLength ?? Number.POSITIVE_INFINITY;

/** "33.3": percents as typed, without floating-point noise (0.1 + 0.2). */
function percent(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/**
 * The problems of the wizard's variations, each naming its field as its input's label does
 * ("Variation 2 weight"): every key non-empty, well formed and unique; every name within the API's
 * limit; every weight a number from 0
 * to 100%; together 100%, with at least one above 0. None: the variations can be sent.
 */
export function variationIssues(variations: readonly VariationDraft[]): VariationIssue[] {
  const issues: VariationIssue[] = [];
  if (variations.length < 2) {
    issues.push({ message: 'An experiment needs at least two variations.' });
  }
  const firstWithKey = new Map<string, number>();
  variations.forEach((v, index) => {
    const label = `Variation ${index + 1} key`;
    const key = v.key;
    if (key.trim() === '') {
      issues.push({ index, field: 'key', message: `${label}: enter a key.` });
    } else if (key.length > KEY_MAX_LENGTH) {
      issues.push({ index, field: 'key', message: `${label}: at most ${KEY_MAX_LENGTH} characters (now ${key.length}).` });
    } else if (!KEY_PATTERN.test(key)) {
      issues.push({ index, field: 'key', message: `${label}: it must start with an ASCII letter or digit and contain only ASCII letters, digits, ".", "_" and "-".` });
    } else {
      const first = firstWithKey.get(key);
      if (first === undefined) {
        firstWithKey.set(key, index);
      } else {
        issues.push({ index, field: 'key', message: `${label}: "${key}" is already the key of variation ${first + 1}; each variation needs its own key.` });
      }
    }
  });
  variations.forEach((v, index) => {
    // Sent trimmed, as the wizard sends it.
    const name = v.name.trim();
    if (name.length > NAME_MAX_LENGTH) {
      issues.push({ index, field: 'name', message: `Variation ${index + 1} name: at most ${NAME_MAX_LENGTH} characters (this one has ${name.length}).` });
    }
  });
  variations.forEach((v, index) => {
    const label = `Variation ${index + 1} weight`;
    if (!Number.isFinite(v.weight)) {
      issues.push({ index, field: 'weight', message: `${label}: enter a percentage from 0 to 100.` });
    } else if (v.weight < 0 || v.weight > 100) {
      issues.push({ index, field: 'weight', message: `${label}: ${percent(v.weight)}% is not between 0 and 100%.` });
    }
  });
  const weights = variations.map((v) => v.weight);
  if (weights.every((w) => Number.isFinite(w))) {
    const total = weights.reduce((s, w) => s + w, 0);
    if (weights.every((w) => w <= 0)) {
      issues.push({ message: 'At least one variation needs a weight above 0%.' });
    } else if (Math.abs(total - 100) >= 0.01) {
      issues.push({ message: `The weights add up to ${percent(total)}%: they must add up to 100%.` });
    }
  }
  return issues;
}
