/** Most attributes one exposure carries, and the longest string value sent. */
const MAX_EXPOSURE_ATTRIBUTES = 50;
const MAX_ATTRIBUTE_TEXT = 1024;
const MAX_ATTRIBUTE_NAME = 256;
/**
 * Characters of names and values one exposure carries: even at three UTF-8 bytes each, the event
 * stays well inside the 16 KB an event may take (MAX_EVENT_BYTES), so attributes never cost an exposure.
 */
export const MAX_EXPOSURE_ATTRIBUTE_CHARS = 4096;

/**
 * The attributes an exposure event carries (the SDKs and the server's /sdk/v1/evaluate alike),
 * stored with the unit's first exposure for result filters and dimensions: the unit's flat ones
 * (strings up to 1024 characters, finite numbers, booleans), less the private ones, at most 50
 * and 4,096 characters in all (the first ones that fit); undefined when none is left.
 */
export function exposureAttributes(attributes: Readonly<Record<string, unknown>>, privateAttributes: readonly string[] | true | undefined): Record<string, string | number | boolean> | undefined {
  if (privateAttributes === true) {
    return undefined;
  }
  let out: Record<string, string | number | boolean> | undefined;
  let n = 0;
  let chars = 0;
  for (const name of Object.keys(attributes)) {
    if (n >= MAX_EXPOSURE_ATTRIBUTES) {
      break;
    }
    const value = attributes[name];
    const sendable =
      (typeof value === 'string' && value.length <= MAX_ATTRIBUTE_TEXT) || (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean';
    if (!sendable || name === '' || name.length > MAX_ATTRIBUTE_NAME || privateAttributes?.includes(name) === true) {
      continue;
    }
    // Numbers and booleans take at most 24 characters as JSON.
    const size = name.length + (typeof value === 'string' ? value.length : 24);
    if (chars + size > MAX_EXPOSURE_ATTRIBUTE_CHARS) {
      continue;
    }
    chars += size;
    out ??= {};
    out[name] = value;
    n++;
  }
  return out;
}
