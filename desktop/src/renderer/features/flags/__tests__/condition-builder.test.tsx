import '../../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { useState } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { compileCondition } from '@xp/shared';
import { ConditionBuilder } from '../condition-builder.js';
import { rowsToTargeting, targetingToRows, validateRows } from '../condition-model.js';
import type { ConditionRow } from '../condition-model.js';

afterEach(cleanup);

function Harness({ initial = [], seen }: { initial?: ConditionRow[]; seen: { rows: ConditionRow[] } }) {
  const [rows, setRows] = useState<ConditionRow[]>(initial);
  seen.rows = rows;
  return <ConditionBuilder rows={rows} onChange={setRows} segments={['beta-testers', 'employees']} attributes={['country', 'plan']} />;
}

describe('condition builder', () => {
  it('builds an "is one of" condition from typed rows', async () => {
    const user = userEvent.setup();
    const seen = { rows: [] as ConditionRow[] };
    render(<Harness seen={seen} />);

    await user.click(screen.getByRole('button', { name: '+ Attribute condition' }));
    await user.type(screen.getByRole('combobox', { name: 'Attribute 1' }), 'country');
    await user.selectOptions(screen.getByRole('combobox', { name: 'Operator 1' }), 'is one of');
    await user.type(screen.getByRole('textbox', { name: 'Value 1' }), 'US, CA');

    expect(screen.queryByRole('alert')).toBeNull();
    expect(rowsToTargeting(seen.rows)).toEqual({ condition: { country: { $in: ['US', 'CA'] } } });
  });

  it('types numbers and reports a value that is not one', async () => {
    const user = userEvent.setup();
    const seen = { rows: [] as ConditionRow[] };
    render(<Harness seen={seen} />);
    await user.click(screen.getByRole('button', { name: '+ Attribute condition' }));
    await user.type(screen.getByRole('combobox', { name: 'Attribute 1' }), 'age');
    await user.selectOptions(screen.getByRole('combobox', { name: 'Operator 1' }), '≥');
    await user.selectOptions(screen.getByRole('combobox', { name: 'Value type 1' }), 'number');

    await user.type(screen.getByRole('textbox', { name: 'Value 1' }), 'eighteen');
    expect(screen.getByRole('alert').textContent).toContain('is not a number');

    await user.clear(screen.getByRole('textbox', { name: 'Value 1' }));
    await user.type(screen.getByRole('textbox', { name: 'Value 1' }), '18');
    expect(screen.queryByRole('alert')).toBeNull();
    expect(rowsToTargeting(seen.rows)).toEqual({ condition: { age: { $gte: 18 } } });
  });

  it('adds segment membership as segment lists, not conditions', async () => {
    const user = userEvent.setup();
    const seen = { rows: [] as ConditionRow[] };
    render(<Harness seen={seen} />);

    await user.click(screen.getByRole('button', { name: '+ Segment' }));
    await user.selectOptions(screen.getByRole('combobox', { name: 'Segment 1' }), 'beta-testers');
    await user.click(screen.getByRole('button', { name: '+ Segment' }));
    await user.selectOptions(screen.getByRole('combobox', { name: 'Operator 2' }), 'not in segment');
    await user.selectOptions(screen.getByRole('combobox', { name: 'Segment 2' }), 'employees');

    expect(rowsToTargeting(seen.rows)).toEqual({ segments: ['beta-testers'], excludeSegments: ['employees'] });
  });

  it('says nothing about a new row before it is touched, then marks the field at fault and ties the message to it', async () => {
    const user = userEvent.setup();
    const seen = { rows: [] as ConditionRow[] };
    render(<Harness seen={seen} />);

    await user.click(screen.getByRole('button', { name: '+ Attribute condition' }));
    const attribute = screen.getByRole('combobox', { name: 'Attribute 1' });
    const value = screen.getByRole('textbox', { name: 'Value 1' });
    expect(screen.queryByRole('alert')).toBeNull();
    expect(attribute.hasAttribute('aria-invalid')).toBe(false);

    // Leaving the attribute empty: the problem is the attribute's, not the value's.
    await user.click(attribute);
    await user.tab();
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toMatch(/^Condition 1: name the attribute/);
    expect(attribute.getAttribute('aria-invalid')).toBe('true');
    expect(attribute.getAttribute('aria-describedby')).toBe(alert.id);
    expect(value.hasAttribute('aria-invalid')).toBe(false);

    await user.type(attribute, 'age');
    await user.selectOptions(screen.getByRole('combobox', { name: 'Value type 1' }), 'number');
    await user.type(value, 'eighteen');
    expect(attribute.hasAttribute('aria-invalid')).toBe(false);
    expect(value.getAttribute('aria-invalid')).toBe('true');
    expect(value.getAttribute('aria-describedby')).toBe(screen.getByRole('alert').id);
  });

  it('removes a row with its button', async () => {
    const user = userEvent.setup();
    const seen = { rows: [] as ConditionRow[] };
    const { rows } = targetingToRows({ condition: { plan: 'pro', country: { $ne: 'FR' } } });
    render(<Harness initial={rows} seen={seen} />);

    await user.click(screen.getByRole('button', { name: 'Remove condition 1' }));

    expect(rowsToTargeting(seen.rows)).toEqual({ condition: { country: { $ne: 'FR' } } });
  });

  it('moves the focus to the next remove button, else the previous one, else the add button, when a row is removed', async () => {
    const user = userEvent.setup();
    const seen = { rows: [] as ConditionRow[] };
    const { rows } = targetingToRows({ condition: { plan: 'pro', country: 'FR', age: 18 } });
    render(<Harness initial={rows} seen={seen} />);

    await user.click(screen.getByRole('button', { name: 'Remove condition 2' }));
    expect(seen.rows).toHaveLength(2);
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Remove condition 2' }));
    await user.click(screen.getByRole('button', { name: 'Remove condition 2' }));
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Remove condition 1' }));
    await user.keyboard('{Enter}');
    expect(seen.rows).toHaveLength(0);
    expect(document.activeElement).toBe(screen.getByRole('button', { name: '+ Attribute condition' }));
  });
});

describe('condition model', () => {
  it('round-trips the conditions the builder can express', () => {
    const targeting = {
      condition: { country: { $in: ['US', 'CA'] }, age: { $gte: 18, $lt: 65 }, email: { $regex: 'example\\.com' }, beta: true, version: { $vgte: '2.1.0' }, referrer: { $exists: false } },
      segments: ['beta-testers'],
    };

    const { rows, advanced } = targetingToRows(targeting);

    expect(advanced).toBeNull();
    expect(validateRows(rows).size).toBe(0);
    // Implicit equality comes back as an explicit $eq, which evaluates the same.
    expect(rowsToTargeting(rows)).toEqual({ ...targeting, condition: { ...targeting.condition, beta: { $eq: true } } });
  });

  it('asks for a text version and refuses comparing with true or false, which the API refuses when saved', () => {
    const row = (operator: string, valueType: 'string' | 'number' | 'boolean', value: string) => ({ id: operator, attribute: 'v', operator, value, valueType }) as ConditionRow;
    const problems = validateRows([row('vgte', 'number', '2'), row('gt', 'boolean', 'true'), row('vlt', 'string', '3.0.0'), row('gt', 'number', '5')]);

    expect(Object.fromEntries(problems)).toEqual({ vgte: 'a version is text: choose the text value type (2.3.0)', gt: 'compare with a number or text, not true or false' });
    expect(compileCondition(rowsToTargeting([row('vlt', 'string', '3.0.0'), row('gt', 'number', '5')]).condition, 'condition', { authoring: true }).problems).toEqual([]);
  });

  it('keeps conditions it cannot express as JSON', () => {
    const condition = { $or: [{ country: 'US' }, { plan: 'pro' }] };

    expect(targetingToRows({ condition }).advanced).toEqual(condition);
  });

  it('uses $and when one attribute has the same operator twice', () => {
    const { rows } = targetingToRows({ condition: { tag: { $ne: 'a' } } });
    const twice = [...rows, { ...rows[0]!, id: 'other', value: 'b' }];

    expect(rowsToTargeting(twice)).toEqual({ condition: { $and: [{ tag: { $ne: 'a' } }, { tag: { $ne: 'b' } }] } });
  });
});
