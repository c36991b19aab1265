/** Reads the committed SciPy/statsmodels fixtures and compares results with the agreed tolerance. */
import { readFileSync } from 'node:fs';

export interface FixtureFile<C> {
  readonly procedure: string;
  readonly reference: string;
  readonly seed: number;
  readonly cases: readonly C[];
}

export function loadFixture<C>(name: string): FixtureFile<C> {
  const url = new URL(`../../../spec/stats/${name}`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as FixtureFile<C>;
}

/** Probabilities below this must also agree to RELATIVE_TOLERANCE. */
const TINY_PROBABILITY = 1e-6;
/** Below this the reference may have underflowed to 0 (subnormal range), so only the absolute bound applies. */
const UNDERFLOW = 1e-300;
const ABSOLUTE_TOLERANCE = 1e-6;
const RELATIVE_TOLERANCE = 1e-9;
/** Above 1e5 in magnitude 1e-6 is below double precision; such values must agree to 1e-11 relative. */
const LARGE_RELATIVE_TOLERANCE = 1e-11;

/** Error of one value; null stands for an infinite interval end in the fixtures. */
export function mismatch(actual: number, expected: number | null, probability: boolean): string | null {
  if (expected === null) {
    return Number.isFinite(actual) ? `expected an open (infinite) end, got ${actual}` : null;
  }
  const error = Math.abs(actual - expected);
  if (!(error <= Math.max(ABSOLUTE_TOLERANCE, LARGE_RELATIVE_TOLERANCE * Math.abs(expected)))) {
    return `got ${actual}, expected ${expected} (abs error ${error})`;
  }
  if (probability && expected < TINY_PROBABILITY && expected > UNDERFLOW && !(error <= RELATIVE_TOLERANCE * expected)) {
    return `got ${actual}, expected ${expected} (rel error ${error / expected})`;
  }
  return null;
}

/** Largest absolute error seen per fixture file, so a run can report it. */
export const maxErrors = new Map<string, number>();

export interface Checker {
  /** Compares one value (or interval) and records a failure message when it is out of tolerance. */
  readonly check: (
    label: string,
    actual: number | readonly number[],
    expected: number | null | readonly (number | null)[],
    probability?: boolean,
  ) => void;
  readonly failures: string[];
}

export function checker(file: string): Checker {
  const failures: string[] = [];
  const record = (label: string, actual: number, expected: number | null, probability: boolean): void => {
    const message = mismatch(actual, expected, probability);
    if (message !== null) {
      failures.push(`${label}: ${message}`);
    }
    if (expected !== null) {
      maxErrors.set(file, Math.max(maxErrors.get(file) ?? 0, Math.abs(actual - expected)));
    }
  };
  return {
    failures,
    check: (label, actual, expected, probability = false) => {
      if (typeof actual === 'number') {
        record(label, actual, typeof expected === 'number' || expected === null ? expected : Number.NaN, probability);
        return;
      }
      const list = Array.isArray(expected) ? (expected as readonly (number | null)[]) : [];
      if (list.length !== actual.length) {
        failures.push(`${label}: length ${actual.length}, expected ${list.length}`);
        return;
      }
      actual.forEach((value, i) => {
        record(`${label}[${i}]`, value, list[i] ?? null, probability);
      });
    },
  };
}
