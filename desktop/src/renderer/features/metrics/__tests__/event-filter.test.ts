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

  it('moves a true/false row to a number when it becomes a comparison, and picks true for a single true/false value', () => {
    const row = patchRow(emptyFilterRow(), { valueType: 'boolean' });
    expect(row.value).toBe('true');
    expect(patchRow(row, { operator: FilterOperator.Gte })).toMatchObject({ valueType: 'number', value: '' });
    expect(patchRow({ ...row, operator: FilterOperator.OneOf, value: 'true, false' }, { operator: FilterOperator.Is }).value).toBe('true');
  });
});
