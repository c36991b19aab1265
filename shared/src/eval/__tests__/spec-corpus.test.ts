import { describe, expect, it } from 'vitest';
import { chooseVariation, getBucketRanges, inNamespace } from '../bucketing.js';
import { evalCondition } from '../condition.js';
import { hash } from '../hash.js';
import { paddedVersionString } from '../version.js';
import type { SpecFile } from './load-spec.js';
import { readSpec } from './load-spec.js';

describe('spec/hash.json', () => {
  const spec = readSpec('hash.json') as SpecFile<{ seed: string; value: string; version: number; expected: number | null }>;
  it.each(spec.cases)('$name', (c) => {
    expect(hash(c.seed, c.value, c.version)).toBe(c.expected);
  });
});

describe('spec/bucket-ranges.json', () => {
  const spec = readSpec('bucket-ranges.json') as SpecFile<{ numVariations: number; coverage: number; weights: number[] | null; expected: [number, number][] }>;
  it.each(spec.cases)('$name', (c) => {
    expect(getBucketRanges(c.numVariations, c.coverage, c.weights)).toEqual(c.expected);
  });
});

describe('spec/choose-variation.json', () => {
  const spec = readSpec('choose-variation.json') as SpecFile<{ hash: number; ranges: [number, number][]; expected: number }>;
  it.each(spec.cases)('$name', (c) => {
    expect(chooseVariation(c.hash, c.ranges)).toBe(c.expected);
  });
});

describe('spec/namespaces.json', () => {
  const spec = readSpec('namespaces.json') as SpecFile<{ unitId: string; namespace: [string, number, number]; expected: boolean }>;
  it.each(spec.cases)('$name', (c) => {
    expect(inNamespace(c.unitId, c.namespace)).toBe(c.expected);
  });
});

describe('spec/version-strings.json', () => {
  const spec = readSpec('version-strings.json') as SpecFile<{ input: string | number | null; expected: string }>;
  it.each(spec.cases)('$name', (c) => {
    expect(paddedVersionString(c.input)).toBe(c.expected);
  });
});

describe('spec/conditions.json', () => {
  const spec = readSpec('conditions.json') as SpecFile<{
    condition: Record<string, unknown>;
    attributes: Record<string, unknown>;
    savedGroups?: Record<string, unknown[]>;
    expected: boolean;
  }>;
  it.each(spec.cases)('$name', (c) => {
    expect(evalCondition(c.attributes, c.condition, c.savedGroups)).toBe(c.expected);
  });
});
