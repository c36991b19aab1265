import '../../../test/dom.js';
import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExperimentResultsView, ResultsWarningView } from '@xp/shared';
import { metricView, resultsView } from '../../../test/fixtures.js';
import { PhaseNote } from '../experiment-page.js';
import { ResultsView } from '../results-view.js';

afterEach(cleanup);

const dominant: ResultsWarningView = {
  code: 'DOMINANT_UNIT',
  message: 'one unit ("undefined") holds 99.8% of "Metric purchases" in variation "treatment" (50000 of 50100): cap the metric',
  metric: 'purchases',
  variation: 'treatment',
  unitIds: ['undefined'],
  share: 0.998,
  unitCount: null,
};
const suspicious = (variation: string, ids: string[]): ResultsWarningView => ({
  code: 'SUSPICIOUS_UNIT_IDS',
  message: `${ids.length} analysed units have ids that a client sends for a missing value (${ids.join(', ')}) in variation "${variation}"`,
  metric: null,
  variation,
  unitIds: ids,
  share: null,
  unitCount: ids.length,
});
const srm: ResultsWarningView = { code: 'SAMPLE_RATIO_MISMATCH', message: 'sample ratio mismatch: the split differs', metric: null, variation: null, unitIds: [], share: null, unitCount: null };

function results(warnings: readonly ResultsWarningView[], flagged = false): ExperimentResultsView {
  return resultsView({
    units: { analysed: 2000, excluded: 0 },
    variations: [
      { key: 'control', name: 'Control', expectedShare: 0.5, units: 1000 },
      { key: 'treatment', name: 'Treatment', expectedShare: 0.5, units: 1000 },
    ],
    srm: { chiSquare: flagged ? 40 : 0.1, pValue: flagged ? 0.00001 : 0.75, flagged, error: null },
    metrics: [metricView('purchases', { type: 'count' }), metricView('revenue', { type: 'sum' })],
    warnings,
  });
}

describe('results data-quality warnings', () => {
  it('shows a dominant unit in the card of its metric only, and suspicious ids above the units', () => {
    render(<ResultsView results={results([suspicious('control', ['null', '   ']), suspicious('treatment', ['undefined']), dominant])} />);

    const purchases = screen.getByRole('region', { name: 'Metric Metric purchases' });
    const list = within(purchases).getByRole('list', { name: 'Data-quality warnings: Metric purchases' });
    expect(list.textContent).toContain('holds 99.8% of "Metric purchases"');
    const revenue = screen.getByRole('region', { name: 'Metric Metric revenue' });
    expect(within(revenue).queryByRole('list')).toBeNull();
    const ids = screen.getByRole('list', { name: 'Data-quality warnings: unit ids' });
    expect(within(ids).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
      '2 analysed units have ids that a client sends for a missing value (null,    ) in variation "control"',
      '1 analysed units have ids that a client sends for a missing value (undefined) in variation "treatment"',
    ]);
  });

  it('shows a sample ratio mismatch once, as the SRM banner, not again as a warning', () => {
    const flagged = results([srm], true);
    render(
      <>
        <PhaseNote results={flagged} changes={[]} />
        <ResultsView results={flagged} />
      </>,
    );

    expect(screen.getAllByRole('alert')).toHaveLength(1);
    expect(screen.queryByText(/sample ratio mismatch: the split differs/)).toBeNull();
    expect(screen.queryByRole('list', { name: 'Results warnings' })).toBeNull();
  });

  it('leaves to the page the warnings the results view does not show, each once', () => {
    const future: ResultsWarningView = { code: 'SOME_FUTURE_CODE', message: 'a caveat of a newer server' };
    const all = results([future, dominant, suspicious('treatment', ['undefined'])]);
    render(
      <>
        <PhaseNote results={all} changes={[]} />
        <ResultsView results={all} />
      </>,
    );

    const page = screen.getByRole('list', { name: 'Results warnings' });
    expect(within(page).getAllByRole('listitem').map((li) => li.textContent)).toEqual(['a caveat of a newer server']);
    expect(screen.getAllByText(/holds 99\.8%/)).toHaveLength(1);
    expect(screen.getAllByText(/\(undefined\) in variation "treatment"/)).toHaveLength(1);
  });
});
