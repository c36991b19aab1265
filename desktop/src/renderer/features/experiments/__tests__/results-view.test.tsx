import '../../../test/dom.js';
import { cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ComparisonView, ExperimentResultsView, MetricResultView } from '@xp/shared';
import { comparisonView, metricView, resultsView } from '../../../test/fixtures.js';
import { BreakdownTable } from '../breakdown-table.js';
import { ResultsView } from '../results-view.js';

afterEach(cleanup);

function comparison(effect: number, ci: [number | null, number | null], pValue: number, extra: Partial<ComparisonView> = {}): ComparisonView {
  return comparisonView({ effect, ci, pValue, adjustedPValue: pValue, significant: pValue < 0.05, chanceToWin: effect > 0 ? 0.97 : 0.2, credibleInterval: ci, se: 0.01, ...extra });
}

function metric(key: string, overrides: Partial<MetricResultView> = {}): MetricResultView {
  return metricView(key, {
    variations: [
      { variation: 'control', units: 5000, total: 500, mean: 0.1, comparison: null },
      { variation: 'treatment', units: 5100, total: 612, mean: 0.12, comparison: comparison(0.2, [0.12, 0.28], 0.0001) },
    ],
    ...overrides,
  });
}

function results(overrides: Partial<ExperimentResultsView> = {}): ExperimentResultsView {
  return resultsView({
    units: { analysed: 10100, excluded: 0 },
    variations: [
      { key: 'control', name: 'Control', expectedShare: 0.5, units: 5000 },
      { key: 'treatment', name: 'Treatment', expectedShare: 0.5, units: 5100 },
    ],
    srm: { chiSquare: 0.99, pValue: 0.32, flagged: false, error: null },
    metrics: [metric('purchase')],
    ...overrides,
  });
}

describe('results view', () => {
  it('says in words whether a significant effect is better or worse, by the metric\'s direction, not by colour alone', () => {
    const lowerIsBetter = metric('latency', { higherIsBetter: false });
    const fewerIsBetter = metric('errors', {
      higherIsBetter: false,
      variations: [
        { variation: 'control', units: 5000, total: 500, mean: 0.1, comparison: null },
        { variation: 'treatment', units: 5100, total: 400, mean: 0.08, comparison: comparison(-0.2, [-0.28, -0.12], 0.0001) },
      ],
    });
    render(<ResultsView results={results({ metrics: [lowerIsBetter, fewerIsBetter] })} />);

    const latency = within(screen.getByRole('table', { name: 'Metric latency by variation' })).getByRole('row', { name: /Treatment/ });
    expect(within(latency).getByText('significant · worse')).toBeTruthy();
    const errors = within(screen.getByRole('table', { name: 'Metric errors by variation' })).getByRole('row', { name: /Treatment/ });
    expect(within(errors).getByText('significant · better')).toBeTruthy();
    const plot = screen.getByRole('img', { name: /Metric latency: effect/ });
    expect(document.getElementById(plot.getAttribute('aria-describedby') ?? '')?.textContent).toBe('Treatment: +20.0% [+12.0%, +28.0%], significant · worse');
  });

  it('shows effect, interval, p-value and chance to win formatted for humans', () => {
    render(<ResultsView results={results()} />);

    const table = screen.getByRole('table', { name: 'Metric purchase by variation' });
    // Variations by the names the units table uses.
    const row = within(table).getByRole('row', { name: /Treatment/ });
    expect(row.textContent).toContain('+20.0%');
    expect(row.textContent).toContain('[+12.0%, +28.0%]');
    expect(row.textContent).toContain('< 0.001');
    expect(row.textContent).toContain('97.0% risk 0.10%');
    expect(within(row).getByTitle('Expected loss if you ship Treatment: 0.10%; if you keep the control: 2.00%')).toBeTruthy();
    expect(row.textContent).toContain('5,100');
    expect(within(row).getByText('significant · better')).toBeTruthy();
    const plot = screen.getByRole('img', { name: /Metric purchase: effect/ });
    expect(document.getElementById(plot.getAttribute('aria-describedby') ?? '')?.textContent).toBe('Treatment: +20.0% [+12.0%, +28.0%], significant · better');
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('never shows a chance to win as certain: >99.9%, not 100.0%', () => {
    const sure = metric('purchase', {
      variations: [
        { variation: 'control', units: 5000, total: 500, mean: 0.1, comparison: null },
        { variation: 'treatment', units: 5100, total: 712, mean: 0.14, comparison: comparison(0.4, [0.3, 0.5], 0.0001, { chanceToWin: 0.99997 }) },
      ],
    });
    render(<ResultsView results={results({ metrics: [sure] })} />);

    const row = within(screen.getByRole('table', { name: 'Metric purchase by variation' })).getByRole('row', { name: /Treatment/ });
    expect(row.textContent).toContain('>99.9% risk');
    expect(row.textContent).not.toContain('100.0%');
  });

  it('shows each variation\'s chance to be best, the control included, only with three or more variations', () => {
    const threeWay = metric('purchase', {
      variations: [
        { variation: 'control', units: 5000, total: 500, mean: 0.1, chanceToBeBest: 0.0004, comparison: null },
        { variation: 'treatment', units: 5100, total: 612, mean: 0.12, chanceToBeBest: 0.7196, comparison: comparison(0.2, [0.12, 0.28], 0.0001) },
        { variation: 'bold', units: 5050, total: 600, mean: 0.119, chanceToBeBest: 0.28, comparison: comparison(0.19, [0.11, 0.27], 0.0001) },
      ],
    });
    const failed = metric('latency', {
      variations: [
        { variation: 'control', units: 5000, total: 500, mean: 0.1, chanceToBeBest: null, comparison: null },
        { variation: 'treatment', units: 5100, total: 612, mean: 0.12, chanceToBeBest: null, comparison: comparison(0.2, [0.12, 0.28], 0.0001) },
        { variation: 'bold', units: 1, total: 0, mean: 0, chanceToBeBest: null, comparison: comparison(0, [0, 0], 1, { error: { code: 'INSUFFICIENT_SAMPLE', message: 'variation "bold" has 1 unit' } }) },
      ],
    });
    const variations = [...results().variations, { key: 'bold', name: 'Bold', expectedShare: 1 / 3, units: 5050 }];
    const { rerender } = render(<ResultsView results={results({ variations, metrics: [threeWay, failed] })} />);

    const table = screen.getByRole('table', { name: 'Metric purchase by variation' });
    expect(within(table).getByRole('columnheader', { name: 'Chance to be best' })).toBeTruthy();
    expect(within(table).getByRole('row', { name: /Control/ }).textContent).toContain('<0.1%');
    expect(within(table).getByRole('row', { name: /Treatment/ }).textContent).toMatch(/72\.0%$/);
    expect(within(table).getByRole('row', { name: /Bold/ }).textContent).toMatch(/28\.0%$/);
    const undefinedRow = within(screen.getByRole('table', { name: 'Metric latency by variation' })).getByRole('row', { name: /Control/ });
    expect(within(undefinedRow).getByTitle('Undefined: some comparison of this metric could not be made').textContent).toBe('—');

    rerender(<ResultsView results={results()} />);
    expect(within(screen.getByRole('table', { name: 'Metric purchase by variation' })).queryByRole('columnheader', { name: 'Chance to be best' })).toBeNull();
  });

  it('marks a primary metric the guardrail checks watch too, and a guardrail metric once', () => {
    render(<ResultsView results={results({ metrics: [metric('purchase', { guardrail: true }), metric('latency', { role: 'guardrail', guardrail: true }), metric('clicks', { role: 'secondary' })] })} />);
    const badges = (name: string): string[] =>
      [...screen.getByRole('region', { name: `Metric ${name}` }).querySelectorAll('.badge')].map((b) => b.textContent).filter((t) => ['primary', 'secondary', 'guardrail'].includes(t));
    expect(badges('Metric purchase')).toEqual(['primary', 'guardrail']);
    expect(screen.getByRole('button', { name: 'guardrail' }).getAttribute('aria-describedby')).toBeTruthy();
    expect(badges('Metric latency')).toEqual(['guardrail']);
    expect(badges('Metric clicks')).toEqual(['secondary']);
  });

  it('says when the totals are still being recounted after a metric change', () => {
    const { rerender } = render(<ResultsView results={results()} />);
    expect(screen.queryByText(/still being recounted/)).toBeNull();
    rerender(<ResultsView results={results({ totalsRebuilding: true })} />);
    expect(screen.getByRole('status').textContent).toContain('still being recounted from the stored events');
  });

  it('shows the mean of a rare count with its digits, not as 0 in both arms', () => {
    const m = metric('errors', {
      type: 'count',
      variations: [
        { variation: 'control', units: 50_000, total: 155, mean: 0.0031, comparison: null },
        { variation: 'treatment', units: 50_000, total: 210, mean: 0.0042, comparison: comparison(0.35, [0.1, 0.6], 0.004) },
      ],
    });
    render(<ResultsView results={results({ metrics: [m] })} />);

    const [, control, treatment] = within(screen.getByRole('table', { name: 'Metric errors by variation' })).getAllByRole('row');
    expect(control!.children[2]!.textContent).toBe('0.0031');
    expect(treatment!.children[2]!.textContent).toBe('0.0042');
  });

  it('warns about a sample ratio mismatch', () => {
    render(<ResultsView results={results({ srm: { chiSquare: 40, pValue: 0.00001, flagged: true, error: null } })} />);

    expect(screen.getByRole('alert').textContent).toMatch(/Sample ratio mismatch.*p < 0\.001/);
  });

  it('says why the sample ratio is flagged when units arrived in a variation the experiment does not define', () => {
    const message = '30 units were exposed to a variation the experiment does not define ("zzz": 30)';
    render(<ResultsView results={results({ units: { analysed: 10100, excluded: 0, unknownVariation: 30 }, srm: { chiSquare: 0, pValue: 0, flagged: true, error: { code: 'UNEXPECTED_TRAFFIC', message } } })} />);

    expect(screen.getByRole('alert').textContent).toContain(message);
    expect(within(screen.getByRole('table', { name: 'Units per variation' })).getByRole('row', { name: /Total/ }).textContent).toContain('30 in unknown variations');
  });

  it('gives the same sample ratio verdict in the banner and the Total row when units arrived in an unknown variation, and explains them once', () => {
    const message = '30 units were exposed to a variation the experiment does not define ("ghost": 30), and left out of the analysis: look for a renamed or removed variation, or an SDK that sends a wrong key';
    render(<ResultsView results={results({ units: { analysed: 10100, excluded: 0, unknownVariation: 30 }, srm: { chiSquare: 0, pValue: 0, flagged: true, error: { code: 'UNEXPECTED_TRAFFIC', message } } })} />);

    const banner = screen.getByRole('alert');
    expect(banner.textContent).toBe(`Sample ratio mismatch (p < 0.001): ${message}. Results are unreliable until the cause is found.`);
    const total = within(screen.getByRole('table', { name: 'Units per variation' })).getByRole('row', { name: /Total/ });
    expect(total.textContent).toContain('(SRM p < 0.001, mismatch, 30 in unknown variations, not analysed)');
    expect(total.textContent).not.toContain('—');
    // The explanation is the banner's alone.
    expect(total.textContent).not.toContain('ghost');
  });

  it('keeps the dash in the Total row when the sample ratio check has too few units, and its p-value when it passes', () => {
    const { rerender } = render(<ResultsView results={results({ srm: { chiSquare: 0, pValue: 1, flagged: false, error: { code: 'INSUFFICIENT_SAMPLE', message: 'too few units' } } })} />);
    const total = (): string => within(screen.getByRole('table', { name: 'Units per variation' })).getByRole('row', { name: /Total/ }).textContent;
    expect(total()).toContain('(SRM —)');
    rerender(<ResultsView results={results()} />);
    expect(total()).toContain('(SRM p = 0.320)');
  });

  it('labels the p-value and interval columns corrected only when a correction is applied', () => {
    const headers = (): string[] => within(screen.getByRole('table', { name: 'Metric purchase by variation' })).getAllByRole('columnheader').map((h) => h.textContent);
    const { rerender } = render(<ResultsView results={results()} />);
    expect(headers()).toEqual(['Variation', 'Units', 'Mean', 'Effect', 'CI (corrected)', 'p-value (corrected)', 'Chance to win']);
    expect(screen.getByTitle('uncorrected p < 0.001')).toBeTruthy();
    // The footer names the correction in words, not by its code.
    expect(screen.getByText(/Fixed-horizon intervals · α = 0.05 · Holm–Bonferroni correction · computed/)).toBeTruthy();

    rerender(<ResultsView results={results({ analysis: { alpha: 0.05, sequential: false, correction: 'none', interval: 'day' } })} />);
    expect(headers()).toEqual(['Variation', 'Units', 'Mean', 'Effect', 'CI', 'p-value', 'Chance to win']);
    expect(screen.queryByTitle(/uncorrected p/)).toBeNull();
    expect(screen.getByText(/α = 0.05 · no correction · computed/)).toBeTruthy();
  });

  it('shows a dash, not a made-up 0, for a mean that overflowed, and marks a comparison CUPED left unadjusted', () => {
    const m = metric('purchase', {
      cupedApplied: true,
      variations: [
        { variation: 'control', units: 5000, total: null, mean: null, comparison: null },
        { variation: 'treatment', units: 5100, total: 10, mean: 0.002, comparison: comparison(0.05, [0.01, 0.09], 0.01, { cuped: null }) },
      ],
    });
    render(<ResultsView results={results({ metrics: [m] })} />);

    const [, control, treatment] = within(screen.getByRole('table', { name: /by variation/ })).getAllByRole('row');
    expect(control!.textContent).toContain('—');
    expect(control!.textContent).not.toMatch(/\b0\b/);
    expect(treatment!.textContent).toContain('unadjusted');
  });

  it('shows units per variation with observed and expected shares', () => {
    render(<ResultsView results={results()} />);

    const units = screen.getByRole('table', { name: 'Units per variation' });
    const treatment = within(units).getByRole('row', { name: /Treatment/ });
    expect(treatment.textContent).toContain('50.5%');
    expect(treatment.textContent).toContain('50.0%');
    expect(within(units).getByRole('row', { name: /Total/ }).textContent).toContain('10,100');
  });

  it('names the unit, when not the user, in every Units header, and says what one unit is', () => {
    render(<ResultsView results={results()} unit="accountId or deviceId" />);
    expect(within(screen.getByRole('table', { name: 'Units per variation' })).getAllByRole('columnheader')[1]?.textContent).toBe('Units (accountId or deviceId)');
    expect(within(screen.getByRole('table', { name: 'Metric purchase by variation' })).getAllByRole('columnheader')[1]?.textContent).toBe('Units (accountId or deviceId)');
    expect(screen.getByText(/^Randomised by/).textContent).toBe('Randomised by accountId or deviceId: each unit counted below is one accountId or deviceId value.');
    cleanup();

    render(<BreakdownTable breakdown={{ dimension: 'country', environment: 'production', values: [{ value: 'US', results: results() }], omitted: { values: 0, units: 0 } }} metric="purchase" onChoose={() => undefined} unit="accountId" />);
    expect(screen.getAllByRole('columnheader')[1]?.textContent).toBe('Units (accountId)');
  });

  it('renders 5 variations × 20 metrics and lets the user pick one to chart', async () => {
    const user = userEvent.setup();
    const onSelect = vi.fn();
    const many = Array.from({ length: 20 }, (_v, i) =>
      metric(`m${i}`, {
        variations: [
          { variation: 'control', units: 1000, total: 100, mean: 0.1, comparison: null },
          ...[1, 2, 3, 4].map((k) => ({ variation: `v${k}`, units: 1000, total: 100 + k, mean: 0.1 + k / 1000, comparison: comparison(k / 100, [k / 100 - 0.05, k / 100 + 0.05], 0.4) })),
        ],
      }),
    );
    render(<ResultsView results={results({ metrics: many })} selectedMetric="m0" onSelectMetric={onSelect} />);

    expect(screen.getAllByRole('img')).toHaveLength(20);
    await user.click(within(screen.getByRole('region', { name: 'Metric Metric m7' })).getByRole('button', { name: 'Show over time' }));
    expect(onSelect).toHaveBeenCalledWith('m7');
  });

  it('explains degenerate comparisons and an empty metric list', () => {
    const degenerate = metric('errors', {
      variations: [
        { variation: 'control', units: 1, total: 0, mean: 0, comparison: null },
        { variation: 'treatment', units: 1, total: 0, mean: 0, comparison: comparison(0, [0, 0], 1, { error: { code: 'INSUFFICIENT_SAMPLE', message: 'each arm needs at least 2 units' } }) },
      ],
    });
    const { unmount } = render(<ResultsView results={results({ metrics: [degenerate] })} />);
    // No measured-looking numbers (effect 0.0%, p 1.000, chance 50%) and no plot row for it.
    const row = within(screen.getByRole('table', { name: 'Metric errors by variation' })).getByRole('row', { name: /Treatment/ });
    const cells = within(row).getAllByRole('cell').map((c) => c.textContent);
    expect(cells).toEqual(['Treatment', '1', '0.0%', '— no comparison: each arm needs at least 2 units']);
    expect(screen.queryByRole('img')).toBeNull();
    unmount();

    render(<ResultsView results={results({ metrics: [] })} />);
    expect(screen.getByText(/no metrics yet/)).toBeTruthy();
  });

  it('shows a failed comparison (0% against 100% conversion) as a dash with its reason, in every arm, not as a precise null effect', () => {
    const zero = (message: string): ComparisonView => comparison(0, [0, 0], 1, { chanceToWin: 0.5, risk: { control: 0, treatment: 0 }, error: { code: 'ZERO_CONVERSIONS', message } });
    const m = metric('purchase', {
      variations: [
        { variation: 'control', units: 500, total: 0, mean: 0, comparison: null },
        { variation: 'treatment', units: 500, total: 500, mean: 1, comparison: zero('the control has no conversions') },
        { variation: 'empty', units: 0, total: 0, mean: 0, comparison: zero('empty has 0 units (an arm needs at least 2)') },
      ],
    });
    render(<ResultsView results={results({ metrics: [m] })} />);

    const table = screen.getByRole('table', { name: 'Metric purchase by variation' });
    const cells = (name: RegExp): (string | null)[] => within(within(table).getByRole('row', { name })).getAllByRole('cell').map((c) => c.textContent);
    // Three variations: the chance-to-be-best column, undefined (a dash) when a comparison failed.
    expect(cells(/^Control/)).toEqual(['Control (control)', '500', '0.0%', 'baseline', '—']);
    expect(cells(/^Treatment/)).toEqual(['Treatment', '500', '100.0%', '— no comparison: the control has no conversions', '—']);
    expect(cells(/^empty/)).toEqual(['empty', '0', '—', '— no comparison: empty has 0 units (an arm needs at least 2)', '—']);
    expect(table.textContent).not.toMatch(/1\.000|50\.0%|\[0\.0%/);
    expect(screen.queryByRole('img')).toBeNull();
  });

  it('shows a dash, saying the denominator is 0, for the mean of a ratio whose denominator sums to 0 (mean 0 or null), never NaN', () => {
    // The API also sends each arm's denominatorTotal for a ratio (the console's view type leaves it out).
    const ratio = (mean: number | null): MetricResultView => {
      const variations: (MetricResultView['variations'][number] & { denominatorTotal: number | null })[] = [
        { variation: 'control', units: 100, total: 50, denominatorTotal: 200, mean: 0.25, comparison: null },
        { variation: 'treatment', units: 100, total: 400, denominatorTotal: 0, mean, comparison: comparison(0, [0, 0], 1, { error: { code: 'ZERO_DENOMINATOR', message: 'the ratio denominator sums to zero in the treatment' } }) },
      ];
      return metric('per-session', { type: 'ratio', name: 'Orders per session', variations });
    };
    for (const mean of [0, null]) {
      const { unmount } = render(<ResultsView results={results({ metrics: [ratio(mean)] })} />);
      const table = screen.getByRole('table', { name: 'Orders per session by variation' });
      const [, control, treatment] = within(table).getAllByRole('row');
      expect(control!.children[2]!.textContent).toBe('0.25');
      expect(treatment!.children[2]!.textContent).toBe('— denominator 0');
      expect(treatment!.children[2]!.getAttribute('title')).toBe('The denominator of Orders per session is 0 in this variation: its ratio is undefined.');
      expect(table.textContent).not.toContain('NaN');
      unmount();
    }
  });

  it('shows dashes, not a p-value of 1 and means of 0, when a filter matches no units, and says so', () => {
    const none = metric('purchase', {
      variations: [
        { variation: 'control', units: 0, total: 0, mean: 0, comparison: null },
        { variation: 'treatment', units: 0, total: 0, mean: 0, comparison: comparison(0, [null, null], 1, { error: { code: 'INSUFFICIENT_SAMPLE', message: 'each arm needs at least 2 units' } }) },
      ],
    });
    render(
      <ResultsView
        results={results({
          units: { analysed: 0, excluded: 0 },
          variations: [
            { key: 'control', name: 'Control', expectedShare: 0.5, units: 0 },
            { key: 'treatment', name: 'Treatment', expectedShare: 0.5, units: 0 },
          ],
          srm: { chiSquare: 0, pValue: 1, flagged: false, error: { code: 'INSUFFICIENT_SAMPLE', message: 'no units' } },
          metrics: [none],
        })}
        filtered
      />,
    );

    expect(screen.getByText(/No units match/)).toBeTruthy();
    expect(within(screen.getByRole('table', { name: 'Units per variation' })).getByRole('row', { name: /Total/ }).textContent).toContain('(SRM —)');
    const control = within(screen.getByRole('table', { name: 'Metric purchase by variation' })).getByRole('row', { name: /Control/ });
    expect(within(control).getAllByRole('cell').map((c) => c.textContent)).toEqual(['Control (control)', '0', '—', 'baseline']);
  });

  it('says there are no exposures yet, not that no units match, when nothing filters results without units', () => {
    const empty = results({
      units: { analysed: 0, excluded: 0 },
      variations: [
        { key: 'control', name: 'Control', expectedShare: 0.5, units: 0 },
        { key: 'treatment', name: 'Treatment', expectedShare: 0.5, units: 0 },
      ],
      srm: { chiSquare: 0, pValue: 1, flagged: false, error: { code: 'INSUFFICIENT_SAMPLE', message: 'no units' } },
      metrics: [],
    });
    const { rerender } = render(<ResultsView results={empty} />);
    expect(screen.getByText('No exposures yet in this environment: traffic appears here once SDKs expose units to the experiment.')).toBeTruthy();
    expect(screen.queryByText(/No units match/)).toBeNull();

    rerender(<ResultsView results={empty} filtered />);
    expect(screen.getByText(/No units match/)).toBeTruthy();
    expect(screen.queryByText(/No exposures yet/)).toBeNull();
  });

  it('says when CUPED was asked for but could not adjust a metric, and why', () => {
    const metrics = [metric('purchase'), metric('revenue', { cupedApplied: true, cupedStatus: 'applied' }), metric('orders', { cupedStatus: 'no-variance-reduction' })];
    const { unmount } = render(<ResultsView results={results({ metrics })} />);
    const notApplied = (name: string): HTMLElement => within(screen.getByRole('region', { name: `Metric Metric ${name}` })).getByText('· CUPED not applied');
    expect(notApplied('purchase').title).toMatch(/no unit has events of this metric in the 14 days before/);
    expect(notApplied('orders').title).toMatch(/would not have reduced the variance/);
    expect(within(screen.getByRole('region', { name: 'Metric Metric revenue' })).getByText(/CUPED applied/)).toBeTruthy();
    unmount();

    render(<ResultsView results={results()} cuped={false} />);
    expect(screen.queryByText(/CUPED/)).toBeNull();
  });
});
