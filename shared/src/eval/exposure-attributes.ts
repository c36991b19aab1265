/**
 * Most attributes one exposure carries, and the most characters of one (name and value; a number or
 * boolean counts 24): even at three UTF-8 bytes each, an exposure stays well inside the 16 KB an event
 * may take (MAX_EVENT_BYTES), and names and values inside the event schema's limits (256, 1024).
 */
export const MAX_EXPOSURE_ATTRIBUTES = 16;
export const MAX_EXPOSURE_ATTRIBUTE_CHARS = 256;

/**
 * The attributes an exposure event carries (the SDKs and the server's /sdk/v1/evaluate alike),
 * stored with the unit's first exposure for result filters and dimensions: the unit's flat ones
 * (strings, finite numbers, booleans) of at most 256 characters with their name (an empty name is
 * allowed), less the private
 * ones, the first 16; undefined when none is left.
 */
export function exposureAttributes(
  attributes: Readonly<Record<string, unknown>> | undefined,
  privateAttributes: readonly string[] | true | undefined,
): Record<string, string | number | boolean> | undefined {
  // Written for size: this ships in the browser bundle (15 kB gzip budget).
  let out: Record<string, string | number | boolean> | undefined;
  let n = 0;
  // From plain JavaScript: a lone name is that one attribute (not its substrings), false or anything else none.
  const hidden: unknown = privateAttributes;
  const names: readonly unknown[] = Array.isArray(hidden) ? hidden : [hidden];
  // for…in: the attributes are plain objects (own keys only in practice), and it is the shortest loop.
  for (const name in privateAttributes === true ? {} : attributes) {
    const value = attributes![name];
    const type = typeof value;
    const size = type === 'string' ? (value as string).length : type === 'boolean' || Number.isFinite(value) ? 24 : MAX_EXPOSURE_ATTRIBUTE_CHARS;
    if (n < MAX_EXPOSURE_ATTRIBUTES && name.length + size <= MAX_EXPOSURE_ATTRIBUTE_CHARS && !names.includes(name)) {
      (out ??= {})[name] = value as string | number | boolean;
      n++;
    }
  }
  return out;
}
