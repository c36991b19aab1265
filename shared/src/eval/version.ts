const STRIP_PREFIX_AND_BUILD = /(^v|\+.*$)/g;
const SEPARATORS = /[-.]/;
const DIGITS = /^[0-9]+$/;

/**
 * Turns a version string into one that compares correctly as a plain string: the leading "v" and
 * build metadata are dropped, numeric parts are left-padded to 5 characters, and a release without
 * a pre-release tag gets "~" appended so it sorts after its pre-releases ("1.0.0" > "1.0.0-rc.1").
 */
export function paddedVersionString(input: unknown): string {
  let s: string;
  if (typeof input === 'number') {
    s = String(input);
  } else if (typeof input === 'string' && input !== '') {
    s = input;
  } else {
    s = '0';
  }
  const parts = s.replace(STRIP_PREFIX_AND_BUILD, '').split(SEPARATORS);
  if (parts.length === 3) {
    parts.push('~');
  }
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (DIGITS.test(p)) {
      parts[i] = p.padStart(5, ' ');
    }
  }
  return parts.join('-');
}
