/**
 * The shape of keys (flags, experiments, segments, metrics, environments), without zod, for code
 * that must not load it (the SDK endpoints); `keySchema` in common.ts enforces the same rules.
 */
export const KEY_MAX_LENGTH = 128;
export const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const KEY_PATTERN_MESSAGE = 'must start with an ASCII letter or digit and contain only ASCII letters, digits, "_", "." and "-"';

/** Whether `value` is a well-formed key. */
export function isKey(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= KEY_MAX_LENGTH && KEY_PATTERN.test(value);
}
