import { memo, useMemo, useRef } from 'react';
import type { ReactNode } from 'react';
import type { ExperimentResultsView, MetricResultView, ResultsWarningView } from '@xp/shared';
import { ResultsWarningCodes } from '@xp/shared';
import { formatCount, formatEffect, formatInterval, formatMean, formatNumber, formatPValue, formatPercent, formatProbability, formatTime, pValueText } from '../../lib/format.js';
import { Badge, Empty, ExplainedBadge, ScrollRegion, useScrollableTabIndex } from '../../lib/ui.js';
import { ForestPlot, TONE_TEXT } from './forest-plot.js';
import type { ForestRow } from './forest-plot.js';
import { CORRECTION_WORDS } from './experiment-settings-fields.js';

/**
 * Whether the results view shows a warning itself: a metric's warnings (DOMINANT_UNIT) in its card,
 * SUSPICIOUS_UNIT_IDS above the units table, SAMPLE_RATIO_MISMATCH as the SRM banner. The page lists
 * the others (split phases, codes of newer servers).
 */

/** Why CUPED left a metric unadjusted, by the results' `cupedStatus` (the tooltip of "CUPED not applied"). */
const CUPED_NOT_APPLIED: Readonly<Record<string, string>> = {
  disabled: 'CUPED is turned off for these results.',
  'no-pre-exposure-data': 'CUPED adjusts a metric by what units did before their exposure; no unit has events of this metric in the 14 days before it.',
  'no-variance-reduction':
    'There is pre-exposure data, but adjusting by it would not have reduced the variance of any comparison (a weak link between before and after, pre-period means that differ by chance, or an outlier), so the unadjusted estimate is shown.',
  unavailable: 'No statistic could be computed for this metric (see its error).',
};

export function shownInResultsView(warning: ResultsWarningView): boolean {
  return (
    (warning.metric !== null && warning.metric !== undefined) ||
    warning.code === ResultsWarningCodes.SuspiciousUnitIds ||
    warning.code === ResultsWarningCodes.SampleRatioMismatch ||
    warning.code === ResultsWarningCodes.DominantUnit
  );
}

const NO_WARNINGS: readonly ResultsWarningView[] = [];

/** Data-quality warnings as a list of their messages, like the page's other results warnings. */
function DataQualityWarnings({ warnings, label }: { warnings: readonly ResultsWarningView[]; label: string }): ReactNode {
  if (warnings.length === 0) {
    return null;
  }
  return (
    <ul className="banner banner-warn" aria-label={label}>
      {warnings.map((w, i) => (
        <li key={`${w.code}-${w.variation ?? ''}-${String(i)}`}>{w.message}</li>
      ))}
    </ul>
  );
}

function tone(metric: MetricResultView, effect: number, significant: boolean): ForestRow['tone'] {
  if (!significant) {
    return 'neutral';
  }
  return effect > 0 === metric.higherIsBetter ? 'good' : 'bad';
}

/** An expected loss (Bayesian risk), in the comparison's effect units. */
function risk(loss: number, difference: 'relative' | 'absolute'): string {
  return difference === 'relative' ? formatPercent(loss, { digits: 2 }) : formatNumber(loss);
}

/** A variation's figures for a metric, with a ratio's denominator total. */
type VariationFigures = MetricResultView['variations'][number];

/**
 * A variation's mean, or a dash with the reason: no units, a total beyond a double (mean null), or a
 * ratio whose denominator sums to 0 (the API sends a mean of 0 there, which no unit had).
 */
function MeanCell({ metric, figures }: { metric: MetricResultView; figures: VariationFigures }): ReactNode {
  if (metric.type === 'ratio' && figures.denominatorTotal === 0) {
    return (
      <td className="num" title={`The denominator of ${metric.name} is 0 in this variation: its ratio is undefined.`}>
        — <span className="small muted">denominator 0</span>
      </td>
    );
  }
  if (figures.units === 0) {
    return <td className="num" title="No units in this variation">—</td>;
  }
  if (figures.mean === null || !Number.isFinite(figures.mean)) {
    return <td className="num" title="The total passes what a number can hold: no mean">—</td>;
  }
  return <td className="num">{metric.type === 'conversion' ? formatPercent(figures.mean) : formatMean(figures.mean)}</td>;
}

function BestCell({ chance }: { chance: number | null | undefined }): ReactNode {
  if (chance === null || chance === undefined) {
    return (
      <td className="num muted" title="Undefined: some comparison of this metric could not be made">
        —
      </td>
    );
  }
  return <td className="num">{formatProbability(chance)}</td>;
}

interface MetricCardProps {
  readonly metric: MetricResultView;
  readonly selected: boolean;
  readonly onSelect?: (key: string) => void;
  /** Variation names by key, as the units table shows them. */
  readonly names: ReadonlyMap<string, string>;
  /** Whether CUPED was asked for: a metric it could not adjust then says so. */
  readonly cuped: boolean;
  /** Whether the p-values and intervals are corrected for multiple comparisons (correction other than none). */
  readonly corrected: boolean;
  /** The results' warnings about this metric (DOMINANT_UNIT). */
  readonly warnings: readonly ResultsWarningView[];
  /** The Units column's header: "Units", or "Units (accountId)" for an experiment on another unit than the user. */
  readonly unitsHeader: string;
}

const MetricCard = memo(function MetricCard({ metric, selected, onSelect, names, cuped, corrected, warnings, unitsHeader }: MetricCardProps): ReactNode {
  const control = metric.variations.find((v) => v.comparison === null);
  const compared = metric.variations.filter((v) => v.comparison !== null);
  const difference = compared[0]?.comparison?.difference ?? 'relative';
  // A comparison the engine could not make (too few units, no variance) carries neutral
  // placeholders (effect 0, p 1): it gets dashes and no plot row, not numbers that look measured.
  const rows: ForestRow[] = compared
    .filter((v) => v.comparison!.error === null)
    .map((v) => ({ label: names.get(v.variation) ?? v.variation, effect: v.comparison!.effect, ci: v.comparison!.adjustedCi ?? v.comparison!.ci, tone: tone(metric, v.comparison!.effect, v.comparison!.significant) }));
  // With three or more variations, which one is best of all (not each against the control) decides.
  const multivariate = metric.variations.length >= 3;
  const card = useRef<HTMLElement>(null);
  const tabIndex = useScrollableTabIndex(card);
  return (
    <section ref={card} className="metric-card" aria-label={`Metric ${metric.name}`} {...(tabIndex === undefined ? {} : { tabIndex })}>
      <div className="row">
        <h3 style={{ margin: 0 }}>{metric.name}</h3>
        <Badge tone={metric.role === 'guardrail' ? 'warn' : metric.role === 'primary' ? 'info' : 'neutral'}>{metric.role}</Badge>
        {metric.guardrail && metric.role !== 'guardrail' ? (
          <ExplainedBadge tone="warn" label="guardrail">
            The guardrail checks watch this {metric.role} metric too: it is listed as a guardrail of the experiment or marked guardrail in the project.
          </ExplainedBadge>
        ) : null}
        <span className="small muted">
          {metric.type} · {metric.higherIsBetter ? 'higher is better' : 'lower is better'}
          {metric.cupedApplied ? ' · CUPED applied' : ''}
        </span>
        {!metric.cupedApplied && cuped ? (
          <span className="small muted" title={CUPED_NOT_APPLIED[metric.cupedStatus] ?? CUPED_NOT_APPLIED.unavailable}>
            · CUPED not applied
          </span>
        ) : null}
        <span className="spacer" />
        {onSelect === undefined ? null : (
          <button type="button" className="ghost" aria-pressed={selected} onClick={() => { onSelect(metric.key); }}>
            {selected ? 'Showing over time' : 'Show over time'}
          </button>
        )}
      </div>
      {metric.error === null ? null : <p className="banner banner-warn">{metric.error.message}</p>}
      <DataQualityWarnings warnings={warnings} label={`Data-quality warnings: ${metric.name}`} />
      {rows.length === 0 ? null : <ForestPlot rows={rows} difference={difference} title={`${metric.name}: effect and ${difference === 'relative' ? 'relative' : 'absolute'} confidence interval per variation`} />}
      <table aria-label={`${metric.name} by variation`}>
        <thead>
          <tr>
            <th>Variation</th>
            <th className="num">{unitsHeader}</th>
            <th className="num">Mean</th>
            <th className="num">Effect</th>
            {corrected ? (
              <>
                <th className="num" title="Corrected for multiple comparisons, as the p-value: it excludes 0 exactly when the effect is significant">
                  CI (corrected)
                </th>
                <th className="num" title="Corrected for multiple comparisons, as the interval; the uncorrected p-value is in each cell's tooltip">
                  p-value (corrected)
                </th>
              </>
            ) : (
              <>
                <th className="num" title="Not corrected for multiple comparisons (correction none): it excludes 0 exactly when the effect is significant">
                  CI
                </th>
                <th className="num">p-value</th>
              </>
            )}
            <th className="num">Chance to win</th>
            {multivariate ? (
              <th className="num" title="Posterior probability that this variation, the control included, is the best of all on this metric (in its direction); the column sums to 100%">
                Chance to be best
              </th>
            ) : null}
          </tr>
        </thead>
        <tbody>
          {metric.variations.map((v) => {
            const c = v.comparison;
            return (
              <tr key={v.variation}>
                <td>
                  {names.get(v.variation) ?? v.variation}
                  {v === control ? <span className="muted small"> (control)</span> : null}
                </td>
                <td className="num">{formatCount(v.units)}</td>
                <MeanCell metric={metric} figures={v} />
                {c === null ? (
                  <td className="num muted" colSpan={4}>
                    baseline
                  </td>
                ) : c.error !== null ? (
                  // The API's neutral placeholders (effect 0, p 1, chance 50%) are not shown as if measured.
                  // Not a .num cell: the message may quote a long variation key, which must wrap.
                  <td className="muted" colSpan={4} title={c.error.message}>
                    — no comparison: {c.error.message}
                  </td>
                ) : (
                  <>
                    <td className="num">
                      {formatEffect(c.effect, c.difference)} {c.significant ? <Badge tone={tone(metric, c.effect, true)}>{TONE_TEXT[tone(metric, c.effect, true)]}</Badge> : null}
                      {metric.cupedApplied && c.cuped === null ? (
                        <span className="small muted" title="CUPED would not have reduced the variance of this comparison, so its estimate is unadjusted.">
                          {' '}
                          unadjusted
                        </span>
                      ) : null}
                    </td>
                    <td className="num">{formatInterval(c.adjustedCi ?? c.ci, c.difference)}</td>
                    <td className="num" {...(corrected ? { title: `uncorrected ${pValueText(c.pValue)}` } : {})}>
                      {formatPValue(c.adjustedPValue)}
                    </td>
                    <td className="num" title={`Expected loss if you ship ${names.get(v.variation) ?? v.variation}: ${risk(c.risk.treatment, c.difference)}; if you keep the control: ${risk(c.risk.control, c.difference)}`}>
                      {formatProbability(c.chanceToWin)} <span className="small muted">risk {risk(c.risk.treatment, c.difference)}</span>
                    </td>
                  </>
                )}
                {multivariate ? <BestCell chance={v.chanceToBeBest} /> : null}
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
});

export interface ResultsViewProps {
  readonly results: ExperimentResultsView;
  readonly selectedMetric?: string;
  readonly onSelectMetric?: (key: string) => void;
  /** The cumulative chart, rendered by the page (recharts stays out of this component). */
  readonly chart?: ReactNode;
  /** Whether the results were asked for with CUPED (the default). */
  readonly cuped?: boolean;
  /**
   * Whether a segment, attribute value or exposure window narrows the units: no units then means
   * none match, while unfiltered results without units mean no unit was exposed yet.
   */
  readonly filtered?: boolean;
  /** What to say, when filtered, if no units match (instead of blaming attributes or a segment: a date window alone). */
  readonly emptyText?: string;
  /**
   * What one unit is when not the user: the experiment's attribute ("accountId", unitText), named
   * wherever units are counted; undefined for `id`, whose wording stays "Units".
   */
  readonly unit?: string | undefined;
}

/** An experiment's results: SRM check, units per variation, and per metric a forest plot and table. */
export function ResultsView({ results, selectedMetric, onSelectMetric, chart, cuped = true, filtered = false, emptyText, unit }: ResultsViewProps): ReactNode {
  const unitsHeader = unit === undefined ? 'Units' : `Units (${unit})`;
  const totalUnits = results.variations.reduce((s, v) => s + v.units, 0);
  const names = new Map(results.variations.map((v) => [v.key, v.name ?? v.key]));
  const unknownUnits = results.units.unknownVariation ?? 0;
  const corrected = results.analysis.correction !== 'none';
  // Grouped once per response: the memoised metric cards keep their props between renders.
  const { unitWarnings, byMetric } = useMemo(() => {
    const all = results.warnings ?? [];
    const grouped = new Map<string, ResultsWarningView[]>();
    for (const w of all) {
      if (w.metric !== null && w.metric !== undefined) {
        grouped.set(w.metric, [...(grouped.get(w.metric) ?? []), w]);
      }
    }
    return { unitWarnings: all.filter((w) => w.code === ResultsWarningCodes.SuspiciousUnitIds), byMetric: grouped };
  }, [results.warnings]);
  return (
    <div className="results">
      {results.srm.flagged ? (
        <div className="banner banner-bad" role="alert">
          {unknownUnits > 0 ? (
            // Units in a variation the experiment does not define: a certain mismatch (the API's p-value is 0), explained here only.
            <>
              Sample ratio mismatch ({pValueText(results.srm.pValue)}): {results.srm.error?.message ?? `${formatCount(unknownUnits)} units were exposed to variations the experiment does not define, and left out of the analysis`}. Results are unreliable until the
              cause is found.
            </>
          ) : (
            <>
              Sample ratio mismatch ({pValueText(results.srm.pValue)}): the split of units differs from the expected shares, the configured weights (per period when the split was moved). Results are unreliable until the cause (bucketing, redirects, bots, tracking loss) is found.
              {results.srm.error === null ? null : ` ${results.srm.error.message}`}
            </>
          )}
        </div>
      ) : null}
      {results.error === null ? null : <p className="banner banner-warn">{results.error.message}</p>}
      {results.totalsRebuilding === true ? (
        <p className="banner banner-warn" role="status">
          A metric changed since these totals were counted, and they are still being recounted from the stored events (the experiment has much data): until then the values count events the old way. Refresh in a minute.
        </p>
      ) : null}
      {totalUnits === 0 && results.error === null ? (
        filtered ? (
          <Empty>{emptyText ?? 'No units match: nobody in this experiment has these attributes or this segment in the chosen time.'}</Empty>
        ) : results.experiment.status === 'stopped' ? (
          <Empty>No exposures in this environment: the experiment stopped before any unit was exposed to it, so it has no results here.</Empty>
        ) : (
          <Empty>No exposures yet in this environment: traffic appears here once SDKs expose units to the experiment.</Empty>
        )
      ) : null}
      <DataQualityWarnings warnings={unitWarnings} label="Data-quality warnings: unit ids" />
      <p className="small muted">
        {results.analysis.sequential ? 'Sequential (always-valid) intervals' : 'Fixed-horizon intervals'} · α = {results.analysis.alpha} · {CORRECTION_WORDS[results.analysis.correction] ?? `correction ${results.analysis.correction}`} · computed {formatTime(results.computedAt)}
      </p>
      {unit === undefined ? null : (
        <p className="small muted">
          Randomised by <code>{unit}</code>: each unit counted below is one {unit} value.
        </p>
      )}
      <ScrollRegion label="Units per variation">
        <table aria-label="Units per variation">
          <thead>
            <tr>
              <th>Variation</th>
              <th className="num">{unitsHeader}</th>
              <th className="num">Observed share</th>
              <th className="num">Expected share</th>
            </tr>
          </thead>
          <tbody>
            {results.variations.map((v) => (
              <tr key={v.key}>
                <td>{v.name ?? v.key}</td>
                <td className="num">{formatCount(v.units)}</td>
                <td className="num">{totalUnits === 0 ? '—' : formatPercent(v.units / totalUnits)}</td>
                <td className="num">{formatPercent(v.expectedShare)}</td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <td>
                Total{' '}
                <span className="small muted">
                  {/* The banner's verdict when flagged (units in unknown variations included); a dash when there are no units, or too few: the check has no p-value to give. */}
                  (SRM{' '}
                  {results.srm.flagged ? (
                    `${pValueText(results.srm.pValue)}, mismatch`
                  ) : results.srm.error === null ? (
                    pValueText(results.srm.pValue)
                  ) : (
                    <span title={results.srm.error.message}>—</span>
                  )}
                  {results.units.excluded > 0 ? `, ${formatCount(results.units.excluded)} excluded` : ''}
                  {unknownUnits > 0 ? `, ${formatCount(unknownUnits)} in unknown variations, not analysed` : ''})
                </span>
              </td>
              <td className="num">{formatCount(totalUnits)}</td>
              <td />
              <td />
            </tr>
          </tfoot>
        </table>
      </ScrollRegion>
      {chart}
      {results.metrics.length === 0 ? (
        <Empty>This experiment has no metrics yet. Add primary metrics and guardrails to see effects.</Empty>
      ) : (
        results.metrics.map((m) => <MetricCard key={m.key} metric={m} names={names} cuped={cuped} corrected={corrected} warnings={byMetric.get(m.key) ?? NO_WARNINGS} unitsHeader={unitsHeader} selected={selectedMetric === m.key} {...(onSelectMetric === undefined ? {} : { onSelect: onSelectMetric })} />)
      )}
    </div>
  );
}
