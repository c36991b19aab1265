import { describe, expect, it } from 'vitest';
import { formatDays } from '../../../lib/format.js';
import { planDuration, planText } from '../power-plan.js';
import type { PowerPlanInput, PowerPlanResult } from '../power-plan.js';

const BASE: PowerPlanInput = {
  baseline: 0.1,
  mde: 0.05,
  alpha: 0.05,
  power: 0.8,
  variations: [
    { key: 'control', weight: 50 },
    { key: 'treatment', weight: 50 },
  ],
  dailyUnits: 5000,
  coverage: 1,
};

/** Four arms weighted 40/20/30/10, as the tester entered them. */
const UNEQUAL: PowerPlanInput['variations'] = [
  { key: 'control', weight: 40 },
  { key: 'copy', weight: 20 },
  { key: 'price', weight: 30 },
  { key: 'bundle', weight: 10 },
];

/**
 * The standard normal quantile, independently of the statistics library (Acklam's rational
 * approximation, relative error below 1.2e-9).
 */
function quantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const tail = (q: number): number => (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  if (p < 0.02425) {
    return tail(Math.sqrt(-2 * Math.log(p)));
  }
  if (p > 1 - 0.02425) {
    return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  }
  const q = p - 0.5;
  const r = q * q;
  return ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
}

/**
 * Units in all (N) a two-sided comparison of a conversion rate needs, closed form under the normal
 * approximation: σ²(1/(w_c·N) + 1/(w_t·N)) = (δ / (z_{1−α/2} + z_{power}))².
 */
function closedFormTotal(baseline: number, lift: number, alpha: number, power: number, controlShare: number, treatmentShare: number): number {
  const variance = baseline * (1 - baseline);
  const delta = baseline * lift;
  const z = quantile(1 - alpha / 2) + quantile(power);
  return ((variance * z * z) / (delta * delta)) * (1 / controlShare + 1 / treatmentShare);
}

function planned(input: PowerPlanInput): PowerPlanResult {
  const plan = planDuration(input);
  if ('error' in plan) {
    throw new Error(plan.error);
  }
  return plan;
}

describe('power plan', () => {
  it('plans units and days for a reachable lift', () => {
    const plan = planDuration(BASE);
    expect('error' in plan).toBe(false);
    expect(planText(plan, 5000, 1)).toMatch(/^[\d,]+ units per variation, [\d,]+ in all: about \d+ days at 5,000 units a day with 100% of traffic\.$/);
  });

  it('refuses a lift that pushes the conversion rate past 100% or below 0%, instead of planning 2 units', () => {
    expect(planDuration({ ...BASE, mde: 10 })).toEqual({
      error: 'A +1,000% lift on a 10.0% baseline would make the conversion rate 110.0%: a rate must stay between 0% and 100%. Enter a lift closer to 0%.',
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

  it("plans at the analysis plan's correction and says when its test is sequential", () => {
    const three = { ...BASE, metrics: 3 };
    const holm = planDuration(three) as PowerPlanResult;
    const bh = planDuration({ ...three, correction: 'bh' }) as PowerPlanResult;
    const none = planDuration({ ...three, correction: 'none' }) as PowerPlanResult;

    expect([holm.alphaPerComparison, bh.alphaPerComparison, none.alphaPerComparison]).toEqual([BASE.alpha / 3, BASE.alpha / 3, BASE.alpha]);
    expect(none.total).toBeLessThan(holm.total);
    expect(planText(holm, 1000, 1)).toContain('together (Holm)');
    expect(planText(bh, 1000, 1)).toContain('together (Benjamini–Hochberg)');
    expect(planText(none, 1000, 1)).toContain('corrects none of the 3 comparisons');
    expect(planText(holm, 1000, 1)).not.toContain('sequential');
    expect(planText(planDuration({ ...three, sequential: true }) as PowerPlanResult, 1000, 1)).toContain('The analysis plan is a sequential test');
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
    expect(planText(planDuration({ ...BASE, dailyUnits: 100 }), 100, 1)).toMatch(/about \d{1,3}(,\d{3})+ days at 100 units a day/);
  });

  it('checks the quantile the independent computation uses', () => {
    expect(quantile(0.975)).toBeCloseTo(1.959963985, 8);
    expect(quantile(0.8)).toBeCloseTo(0.8416212336, 8);
    expect(quantile(0.001)).toBeCloseTo(-3.090232306, 8);
  });

  it('plans two even arms as the closed-form normal approximation does, without a correction', () => {
    const plan = planned(BASE);
    const n = closedFormTotal(0.1, 0.05, 0.05, 0.8, 0.5, 0.5);
    expect(plan.comparisons).toBe(1);
    expect(plan.total / n).toBeCloseTo(1, 4);
    expect(plan.days).toBeCloseTo(n / 5000, 3);
    expect(plan.arms.map((a) => a.units)).toEqual([Math.ceil(n / 2), Math.ceil(n / 2)]);
    expect(plan.bottleneck).toBeNull();
    expect(planText(plan, 5000, 1)).toBe(`${Math.ceil(n / 2).toLocaleString('en-US')} units per variation, ${(2 * Math.ceil(n / 2)).toLocaleString('en-US')} in all: about ${Math.ceil(n / 5000)} days at 5,000 units a day with 100% of traffic.`);
  });

  it('plans unequal weights (40/20/30/10) by the arm that reaches its sample last, with α split over the comparisons, not per arm × arms', () => {
    const plan = planned({ ...BASE, variations: UNEQUAL });
    // Three treatments against control, each at α / 3 (Bonferroni), n_c = 0.4·N and n_t = w_t·N.
    const needs = [0.2, 0.3, 0.1].map((w) => closedFormTotal(0.1, 0.05, 0.05 / 3, 0.8, 0.4, w));
    const n = Math.max(...needs);
    expect(n).toBe(needs[2]);
    expect(plan.comparisons).toBe(3);
    expect(plan.alphaPerComparison).toBeCloseTo(0.05 / 3, 12);
    expect(plan.days / (n / 5000)).toBeCloseTo(1, 4);
    // The bundle arm gets 10% of 5,000 units a day: 500, for about 95 days, not 46.
    const bundle = Math.ceil(0.1 * n);
    expect(Math.abs(plan.arms[3]!.units - bundle)).toBeLessThanOrEqual(1);
    expect(plan.arms.map((a) => a.key)).toEqual(['control', 'copy', 'price', 'bundle']);
    expect(Math.abs(plan.arms[0]!.units - Math.ceil(0.4 * n))).toBeLessThanOrEqual(1);
    expect(Math.abs(plan.arms[1]!.units - Math.ceil(0.2 * needs[0]!))).toBeLessThanOrEqual(1);
    expect(Math.abs(plan.arms[2]!.units - Math.ceil(0.3 * needs[1]!))).toBeLessThanOrEqual(1);
    expect(plan.total / n).toBeCloseTo(1, 4);
    expect(plan.bottleneck?.key).toBe('bundle');
    const days = Math.ceil(n / 5000);
    expect(days).toBeGreaterThan(90);
    const text = planText(plan, 5000, 1);
    expect(text).toContain(`The 10% arm “bundle” needs ${plan.arms[3]!.units.toLocaleString('en-US')} units: about ${days} days at 5,000 units a day with 100% of traffic.`);
    expect(text).toContain(`Units each variation needs: control (40%) ${plan.arms[0]!.units.toLocaleString('en-US')} · copy (20%) `);
    expect(text).toContain('The results correct the 3 comparisons (1 metric × 3 treatments) together (Holm), so each is planned at α 0.017 (Bonferroni: α / 3, a little conservative).');
  });

  it('names control as the bottleneck when it is the smallest arm, and counts the time on covered traffic only', () => {
    const variations = [
      { key: 'control', weight: 10 },
      { key: 'a', weight: 45 },
      { key: 'b', weight: 45 },
    ];
    const plan = planned({ ...BASE, variations, coverage: 0.5 });
    const n = closedFormTotal(0.1, 0.05, 0.05 / 2, 0.8, 0.1, 0.45);
    expect(plan.bottleneck?.key).toBe('control');
    // Half the traffic: twice the days.
    expect(plan.days / (n / 2500)).toBeCloseTo(1, 4);
    expect(planText(plan, 5000, 0.5)).toContain(`The 10% arm “control” needs ${plan.arms[0]!.units.toLocaleString('en-US')} units: about ${Math.ceil(n / 2500)} days at 5,000 units a day with 50% of traffic.`);
  });

  it('splits α over every metric × treatment the results correct together', () => {
    const plan = planned({ ...BASE, variations: UNEQUAL.slice(0, 3).map((v) => ({ ...v, weight: 1 })), metrics: 2 });
    expect(plan.comparisons).toBe(4);
    expect(plan.days / (closedFormTotal(0.1, 0.05, 0.05 / 4, 0.8, 1 / 3, 1 / 3) / 5000)).toBeCloseTo(1, 4);
    expect(planText(plan, 5000, 1)).toMatch(/^[\d,]+ units per variation, [\d,]+ in all: about \d+ days at 5,000 units a day with 100% of traffic\. The results correct the 4 comparisons \(2 metrics × 2 treatments\) together \(Holm\), so each is planned at α 0\.013 /);
  });

  it('says "less than a day" under a day and gives no duration past 10 years', () => {
    expect(planText(planDuration({ ...BASE, dailyUnits: 1e12 }), 1e12, 1)).toMatch(/: less than a day at 1,000,000,000,000 units a day with 100% of traffic\.$/);
    const tiny = planText(planDuration({ ...BASE, mde: 0.000001 }), 5000, 1);
    expect(tiny).toMatch(/: more than 10 years at 5,000 units a day with 100% of traffic: a larger effect or more traffic is needed\.$/);
    expect(tiny).not.toMatch(/days/);
    // Just under 10 years still gets its days; just over does not.
    const perDay = planned(BASE).total / 3650;
    expect(planText(planDuration({ ...BASE, dailyUnits: perDay }), perDay, 1)).toMatch(/about 3,65\d days/);
    expect(planText(planDuration({ ...BASE, dailyUnits: perDay / 1.01 }), perDay / 1.01, 1)).toMatch(/more than 10 years/);
    expect(planText(planDuration({ ...BASE, mde: 1e-12 }), 5000, 1)).toMatch(/too small to detect .*more than 10 years/);
  });

  it('never shows NaN, Infinity or a dash, whatever the fields hold', () => {
    const odd = [0, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-300, 1e300];
    const texts: string[] = [];
    for (const field of ['baseline', 'mde', 'alpha', 'power', 'dailyUnits', 'coverage', 'metrics'] as const) {
      for (const value of odd) {
        const input = { ...BASE, [field]: value };
        texts.push(planText(planDuration(input), input.dailyUnits, input.coverage));
      }
    }
    for (const weights of [[0, 100], [100, 0], [Number.NaN, 50], [-10, 110], [0, 0], [100], [1e-300, 100], [50, 50, 1e-12]]) {
      texts.push(planText(planDuration({ ...BASE, variations: weights.map((weight, i) => ({ key: `v${i}`, weight })) }), 5000, 1));
    }
    for (const text of texts) {
      expect(text).not.toMatch(/NaN|Infinity|∞|—/);
      expect(text.length).toBeGreaterThan(10);
    }
    expect(planDuration({ ...BASE, baseline: Number.NaN })).toEqual({ error: 'Enter the baseline conversion rate: a percentage between 0% and 100% (exclusive).', field: 'baseline' });
    expect(planDuration({ ...BASE, variations: [{ key: 'control', weight: 100 }, { key: 'bundle', weight: 0 }] })).toEqual({
      error: 'Variation “bundle” gets 0% of the traffic: it would never get the units a comparison needs. Give it a weight or remove it (Variations step).',
    });
  });
});
