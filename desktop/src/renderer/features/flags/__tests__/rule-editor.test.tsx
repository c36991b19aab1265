import '../../../test/dom.js';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Rule } from '@xp/shared';
import { RuleEditor } from '../rule-editor.js';
import { draftFromRule, draftToRule, newRuleDraft } from '../rule-model.js';
import type { RuleDraft } from '../rule-model.js';
import type * as ZonedTime from '../../../lib/zoned-time.js';

/** The browser's time zone as the editor sees it: a test sets `zone.viewer`; unset, the process's own. */
const zone = vi.hoisted(() => ({ viewer: undefined as string | undefined }));
vi.mock('../../../lib/zoned-time.js', async (importOriginal) => {
  const actual = await importOriginal<typeof ZonedTime>();
  return { ...actual, localTimeZone: () => zone.viewer ?? actual.localTimeZone() };
});

afterEach(() => {
  cleanup();
  zone.viewer = undefined;
});

function Harness({ initial, seen, now }: { initial: RuleDraft; seen: { draft: RuleDraft }; now?: number }) {
  const [draft, setDraft] = useState(initial);
  seen.draft = draft;
  return (
    <RuleEditor
      draft={draft}
      index={0}
      count={1}
      onChange={setDraft}
      onRemove={() => undefined}
      onMove={() => undefined}
      variations={['off', 'on']}
      segments={['beta']}
      experiments={['checkout-test']}
      {...(now === undefined ? {} : { now })}
    />
  );
}

describe('rule editor', () => {
  it('rolls a variation out to 25% of users matching a condition', async () => {
    const user = userEvent.setup();
    const seen = { draft: newRuleDraft('rollout', ['off', 'on'], []) };
    render(<Harness initial={seen.draft} seen={seen} />);

    await user.selectOptions(screen.getByRole('combobox', { name: 'Rule 1 variation' }), 'on');
    fireEvent.change(screen.getByRole('slider', { name: 'Rule 1 rollout percentage' }), { target: { value: '25' } });
    await user.click(screen.getByRole('button', { name: '+ Attribute condition' }));
    await user.type(screen.getByRole('combobox', { name: 'Attribute 1' }), 'country');
    await user.type(screen.getByRole('textbox', { name: 'Value 1' }), 'NL');

    expect(screen.getByRole('spinbutton', { name: 'Rule 1 rollout percent' })).toHaveProperty('value', '25');
    expect(draftToRule(seen.draft)).toEqual({
      rule: { id: 'rule-1', type: 'rollout', variation: 'on', coverage: 0.25, hashAttribute: 'id', hashVersion: 2, condition: { country: { $eq: 'NL' } } },
    });
  });

  it('adds a scheduled ramp step after the current coverage', async () => {
    const user = userEvent.setup();
    const seen = { draft: newRuleDraft('rollout', ['off', 'on'], []) };
    render(<Harness initial={seen.draft} seen={seen} />);

    await user.click(screen.getByRole('button', { name: '+ Ramp step' }));
    await user.clear(screen.getByRole('spinbutton', { name: 'Ramp step 1 percent' }));
    await user.type(screen.getByRole('spinbutton', { name: 'Ramp step 1 percent' }), '50');

    const result = draftToRule(seen.draft);
    expect('rule' in result && result.rule.type === 'rollout' ? result.rule.schedule?.map((s) => s.coverage) : null).toEqual([0.5]);
  });

  it('adds the next ramp step at the same local time the next calendar day, across the end of daylight saving time', async () => {
    const user = userEvent.setup();
    zone.viewer = 'America/New_York';
    // 09:00 EDT on Sat, Nov 6, 2027; clocks go back that night.
    const stored: Rule = { id: 'ramp', type: 'rollout', variation: 'on', coverage: 0.1, hashAttribute: 'id', hashVersion: 2, schedule: [{ at: '2027-11-06T13:00:00Z', coverage: 0.25 }] };
    const seen = { draft: draftFromRule(stored) };
    render(<Harness initial={seen.draft} seen={seen} />);

    await user.click(screen.getByRole('button', { name: '+ Ramp step' }));
    // 09:00 EST on Nov 7 (25 hours later), not 08:00.
    expect(seen.draft.schedule.map((s) => [s.at, s.coverage])).toEqual([
      ['2027-11-06T13:00:00Z', 0.25],
      ['2027-11-07T14:00:00.000Z', 0.5],
    ]);
  });

  it('adds a ramp step after a step whose time was cleared', async () => {
    const user = userEvent.setup();
    const seen = { draft: newRuleDraft('rollout', ['off', 'on'], []) };
    render(<Harness initial={seen.draft} seen={seen} />);

    await user.click(screen.getByRole('button', { name: '+ Ramp step' }));
    fireEvent.change(screen.getByLabelText('Ramp step 1 time'), { target: { value: '' } });
    await user.click(screen.getByRole('button', { name: '+ Ramp step' }));

    expect(seen.draft.schedule).toHaveLength(2);
    expect(seen.draft.schedule[0]?.at).toBe('');
    expect(Date.parse(seen.draft.schedule[1]?.at ?? '')).toBeGreaterThan(Date.now());
    expect(draftToRule(seen.draft)).toEqual({ error: 'Rule "rule-1": every ramp step needs a date and time' });
  });

  it('turns a rollout into a force rule without leftover rollout fields', async () => {
    const user = userEvent.setup();
    const stored: Rule = { id: 'beta', type: 'rollout', variation: 'on', coverage: 0.3, hashAttribute: 'id', hashVersion: 2, segments: ['beta'], activeFrom: '2026-01-01T00:00:00Z' };
    const seen = { draft: draftFromRule(stored) };
    render(<Harness initial={seen.draft} seen={seen} />);

    await user.selectOptions(screen.getByRole('combobox', { name: 'Rule 1 type' }), 'Serve a variation');

    expect(screen.queryByRole('slider')).toBeNull();
    expect(draftToRule(seen.draft)).toEqual({ rule: { id: 'beta', type: 'force', variation: 'on', segments: ['beta'], activeFrom: '2026-01-01T00:00:00Z' } });
  });

  it('refuses split weights that do not add up to 100%', async () => {
    const user = userEvent.setup();
    const seen = { draft: newRuleDraft('split', ['off', 'on'], []) };
    render(<Harness initial={seen.draft} seen={seen} />);

    await user.clear(screen.getByRole('spinbutton', { name: 'Rule 1 weight of on' }));
    await user.type(screen.getByRole('spinbutton', { name: 'Rule 1 weight of on' }), '30');

    expect(draftToRule(seen.draft)).toEqual({ error: 'Rule "rule-1": the weights add up to 80%, not 100%' });
  });

  it('asks for the experiment of an experiment rule', async () => {
    const user = userEvent.setup();
    const seen = { draft: newRuleDraft('experiment', ['off', 'on'], ['rule-1']) };
    render(<Harness initial={seen.draft} seen={seen} />);
    expect(draftToRule(seen.draft)).toEqual({ error: 'Rule "rule-2": choose the experiment' });

    await user.selectOptions(screen.getByRole('combobox', { name: 'Rule 1 experiment' }), 'checkout-test');

    expect(draftToRule(seen.draft)).toEqual({ rule: { id: 'rule-2', type: 'experiment', experiment: 'checkout-test' } });
  });

  describe('scheduled ramp (F1)', () => {
    const now = Date.parse('2026-03-10T12:00:00Z');
    const rampRule: Rule = {
      id: 'ramp',
      type: 'rollout',
      variation: 'on',
      coverage: 0.25,
      hashAttribute: 'id',
      hashVersion: 2,
      schedule: [
        { at: '2026-03-10T10:41:00Z', coverage: 0.5 },
        { at: '2026-03-11T10:00:00Z', coverage: 0.75 },
      ],
    };

    it('shows the coverage served now when a started step overrides the base coverage, and the next step', () => {
      const seen = { draft: draftFromRule(rampRule) };
      render(<Harness initial={seen.draft} seen={seen} now={now} />);

      const note = screen.getByLabelText('Rule 1 coverage now').textContent;
      expect(note).toContain('Serving 50% since');
      expect(note).toContain('(ramp step)');
      expect(note).toContain('not the 25% above');
      expect(note).toContain('Next: 75% at');
      // Saved steps are history: no warnings.
      expect(screen.queryByRole('alert')).toBeNull();
    });

    it('warns before saving that a new step dated in the past applies at once', () => {
      const seen = { draft: draftFromRule({ ...rampRule, coverage: 1, schedule: [] }) };
      render(<Harness initial={seen.draft} seen={seen} now={now} />);

      fireEvent.click(screen.getByRole('button', { name: '+ Ramp step' }));
      fireEvent.change(screen.getByLabelText('Ramp step 1 time'), { target: { value: '2020-01-01T10:00' } });
      fireEvent.change(screen.getByRole('spinbutton', { name: 'Ramp step 1 percent' }), { target: { value: '0' } });

      const alert = screen.getByRole('alert').textContent;
      expect(alert).toContain('dated in the past, so it applies as soon as you save');
      expect(alert).toContain('lowers the rollout from 100% to 0%');
      expect(screen.getByLabelText('Rule 1 coverage now').textContent).toContain('Serving 0% since');
    });

    it('warns about a future step that lowers coverage, but not about one that raises it', () => {
      const seen = { draft: draftFromRule({ ...rampRule, schedule: [] }) };
      render(<Harness initial={seen.draft} seen={seen} now={now} />);

      fireEvent.click(screen.getByRole('button', { name: '+ Ramp step' }));
      fireEvent.change(screen.getByLabelText('Ramp step 1 time'), { target: { value: '2030-01-01T10:00' } });
      expect(screen.queryByRole('alert')).toBeNull();
      fireEvent.change(screen.getByRole('spinbutton', { name: 'Ramp step 1 percent' }), { target: { value: '10' } });
      expect(screen.getByRole('alert').textContent).toContain('lowers the rollout from 25% to 10%');
      expect(screen.getByRole('alert').textContent).not.toContain('past');
    });
  });
});
