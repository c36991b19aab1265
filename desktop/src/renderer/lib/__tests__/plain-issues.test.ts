import { describe, expect, it } from 'vitest';
import { metricSchema } from '@xp/shared';
import { plainApiMessage, plainFieldIssues, plainIssue } from '../plain-issues.js';

describe('plainFieldIssues', () => {
  it("words a schema's issues by code, with the schema's limits and the value's length", () => {
    const draft = { key: '', name: 'n'.repeat(5000), type: 'sum', event: 'purchase', property: 'p'.repeat(300), description: 'd'.repeat(2001) };
    const result = metricSchema.safeParse(draft);
    expect(result.success).toBe(false);
    expect(Object.fromEntries(plainFieldIssues(result.error!.issues, { key: 'Key', name: 'Name', property: 'Property', description: 'Description' }, draft))).toEqual({
      key: 'Key is required',
      name: 'Name: at most 200 characters (this one has 5,000)',
      property: 'Property: at most 256 characters (this one has 300)',
      description: 'Description: at most 2,000 characters (this one has 2,001)',
    });
  });

  it('leaves out fields without a label, and keeps a message of its own after the label', () => {
    const draft = { key: '-bad', name: 'N', type: 'conversion', event: 'e', tags: [''] };
    const result = metricSchema.safeParse(draft);
    expect(Object.fromEntries(plainFieldIssues(result.error!.issues, { key: 'Key' }, draft))).toEqual({
      key: 'Key: must start with an ASCII letter or digit and contain only ASCII letters, digits, "_", "." and "-"',
    });
  });

  it('words number limits', () => {
    expect(plainIssue('Window', { code: 'too_big', path: ['windowHours'], message: '', origin: 'number', maximum: 8760, inclusive: true }, 9000)).toBe('Window: at most 8,760');
    expect(plainIssue('Window', { code: 'too_small', path: ['windowHours'], message: '', origin: 'number', minimum: 0, inclusive: false }, 0)).toBe('Window: more than 0');
  });
});

describe('plainApiMessage', () => {
  it("words zod's texts and the shared schemas' own ones as plainIssue does", () => {
    expect(plainApiMessage('Name', 'Too small: expected string to have >=1 characters', '')).toBe('Name is required');
    expect(plainApiMessage('Name', 'Too big: expected string to have <=200 characters', 'n'.repeat(5000))).toBe('Name: at most 200 characters (this one has 5,000)');
    expect(plainApiMessage('Key', 'must not be empty', '')).toBe('Key is required');
    expect(plainApiMessage('Key', 'must be at most 128 characters', 'k'.repeat(129))).toBe('Key: at most 128 characters (this one has 129)');
    expect(plainApiMessage('Cap', 'Too big: expected number to be <=1', 2)).toBe('Cap: at most 1');
    expect(plainApiMessage('Cap', 'Too small: expected number to be >0', 0)).toBe('Cap: more than 0');
  });

  it('keeps a message it does not recognise after the label', () => {
    expect(plainApiMessage('Event', 'a count metric needs an event', undefined)).toBe('Event: a count metric needs an event');
  });
});
