import { describe, expect, it } from 'vitest';
import type { EventFilter } from '@xp/shared';
import { FilterOperator, buildWhere, emptyFilterRow, filterDraftOf, patchRow } from '../event-filter.js';

/** The filter sent back after loading `where` into the form without a change. */
const roundTrip = (where: EventFilter): EventFilter | undefined => {
  const draft = filterDraftOf(where);
  return draft.kept ?? buildWhere(draft.rows).where;
};

describe('event filter rows', () => {
  it('loads as rows, and sends back in the same order and types, filters whose values are easy to misread', () => {
    const wheres: EventFilter[] = [
      // One listed value with a comma: one per line, or it would come back split in two.
      { label: { $in: ['a, b'] } },
      { label: { $nin: ['a, b', 'c'] }, plan: { $ne: 'pro' } },
      { amount: { $gt: 1e-7, $lte: 1e21 }, delta: -0.5 },
      { code: '10', flag: 'true', on: false },
      // A single text value is matched as typed, spaces included.
      { note: ' padded ' },
    ];
    for (const where of wheres) {
      const draft = filterDraftOf(where);
      expect(draft.kept).toBeUndefined();
      expect(JSON.stringify(buildWhere(draft.rows).where)).toBe(JSON.stringify(where));
    }
  });

  it('keeps a filter the rows cannot show as it is: mixed lists, padded list values, empty values, padded property names', () => {
    const wheres: EventFilter[] = [{ code: { $in: [1, 'one'] } }, { plan: { $in: [' pro'] } }, { plan: '' }, { ' plan': 'pro' }, { tier: 'gold', code: { $nin: ['', 'x'] } }];
    for (const where of wheres) {
      expect(filterDraftOf(where)).toEqual({ rows: [], kept: where });
      expect(roundTrip(where)).toBe(where);
    }
  });

  it('reads a list typed one per line (values may hold commas) or comma-separated, without blanks', () => {
    const row = (value: string) => ({ ...emptyFilterRow(), property: 'label', operator: FilterOperator.OneOf, value });
    expect(buildWhere([row('a, b\n\n c \n')]).where).toEqual({ label: { $in: ['a, b', 'c'] } });
    expect(buildWhere([row(' a ,, b ')]).where).toEqual({ label: { $in: ['a', 'b'] } });
    expect(buildWhere([row(' , ')]).problems.get(0)).toEqual({ control: 'value', message: 'list at least one value (comma-separated, or one per line)' });
  });

  it('asks about a thousands separator in a comma-separated list of numbers instead of splitting 1,000 into 1 and 0', () => {
    const row = (value: string) => ({ ...emptyFilterRow(), property: 'amount', operator: FilterOperator.OneOf, valueType: 'number' as const, value });
    expect(buildWhere([row('1,000, 2,000')]).problems.get(0)).toEqual({
      control: 'value',
      message: '"1,000" looks like a thousands separator, which would split the number in two: write numbers without one (1000), or one per line',
    });
    expect(buildWhere([row('1000, 2000')]).where).toEqual({ amount: { $in: [1000, 2000] } });
    expect(buildWhere([row('1,5,10')]).where).toEqual({ amount: { $in: [1, 5, 10] } });
    expect(buildWhere([row('1, 250, 999')]).where).toEqual({ amount: { $in: [1, 250, 999] } });
    // One per line, a comma is no separator between values, and "1,000" is then not a number at all.
    expect(buildWhere([row('1,000\n2')]).problems.get(0)).toEqual({ control: 'value', message: '"1,000" is not a number' });
    // Text values keep their commas as separators.
    expect(buildWhere([{ ...row('a,100'), valueType: 'text' as const }]).where).toEqual({ amount: { $in: ['a', '100'] } });
  });

  it('moves a true/false row to a number when it becomes a comparison, and picks true for a single true/false value', () => {
    const row = patchRow(emptyFilterRow(), { valueType: 'boolean' });
    expect(row.value).toBe('true');
    expect(patchRow(row, { operator: FilterOperator.Gte })).toMatchObject({ valueType: 'number', value: '' });
    expect(patchRow({ ...row, operator: FilterOperator.OneOf, value: 'true, false' }, { operator: FilterOperator.Is }).value).toBe('true');
  });
});
