import { describe, expect, it } from 'vitest';
import { formatDays } from '../../../lib/format.js';
import { planDuration, planText } from '../power-plan.js';
import type { PowerPlanInput } from '../power-plan.js';

const BASE: PowerPlanInput = { baseline: 0.1, mde: 0.05, alpha: 0.05, power: 0.8, arms: 2, dailyUnits: 5000, coverage: 1 };

describe('power plan', () => {
  it('plans units and days for a reachable lift', () => {
    const plan = planDuration(BASE);
    expect('error' in plan).toBe(false);
    expect(planText(plan, 5000, 1)).toMatch(/^[\d,]+ units per variation, [\d,]+ in all: about \d+ days at 5,000 units a day with 100% of traffic\.$/);
  });

  it('refuses a lift that pushes the conversion rate past 100% or below 0%, instead of planning 2 units', () => {
    expect(planDuration({ ...BASE, mde: 10 })).toEqual({
      error: 'A +1,000% lift on a 10.0% baseline would make the conversion rate 110.0%: a rate must stay between 0% and 100%. Enter a smaller lift.',
      field: 'mde',
    });
    expect(planDuration({ ...BASE, baseline: 0.5, mde: -1 })).toMatchObject({ field: 'mde', error: expect.stringContaining('A -100% lift on a 50.0% baseline would make the conversion rate 0.0%') as unknown });
    expect(planDuration({ ...BASE, mde: 0 })).toMatchObject({ field: 'mde' });
    // Just inside: 50% → 99%.
    expect('error' in planDuration({ ...BASE, baseline: 0.5, mde: 0.98 })).toBe(false);
  });

  it('names the significance level and power in the words of the form, not the statistics options', () => {
    for (const alpha of [0, 1, -0.1, Number.NaN]) {
      expect(planDuration({ ...BASE, alpha })).toEqual({ error: 'The significance level α must be between 0 and 1 (exclusive), e.g. 0.05.', field: 'alpha' });
    }
    expect(planDuration({ ...BASE, power: 1 })).toEqual({ error: 'Power must be between 0 and 1 (exclusive), e.g. 0.8.', field: 'power' });
    expect(JSON.stringify([planDuration({ ...BASE, alpha: 0 }), planDuration({ ...BASE, power: 0 })])).not.toMatch(/ratio|tuning/);
  });

  it('asks for at least one unit a day, and says "1 unit" in the singular', () => {
    expect(planDuration({ ...BASE, dailyUnits: 0.5 })).toEqual({ error: 'Enter the eligible units you expect per day: at least 1.', field: 'dailyUnits' });
    const plan = planDuration({ ...BASE, dailyUnits: 1 });
    expect(planText(plan, 1, 1)).toMatch(/ at 1 unit a day /);
    expect(planText(planDuration({ ...BASE, dailyUnits: 1.5 }), 1.5, 1)).toMatch(/ at 1\.5 units a day /);
  });

  it('writes long durations with thousands separators', () => {
    expect(formatDays(56_511_795_668)).toBe('56,511,795,668 days');
    expect(formatDays(1)).toBe('1 day');
    expect(formatDays(0.1)).toBe('3 hours');
    expect(planText(planDuration({ ...BASE, mde: 0.001, dailyUnits: 1 }), 1, 1)).toMatch(/about \d{1,3}(,\d{3})+ days at 1 unit a day/);
  });
});
