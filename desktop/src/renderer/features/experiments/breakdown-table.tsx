import type { ReactNode } from 'react';
import type { MetricResultView, ResultsBreakdownView } from '@xp/shared';
import { formatCount, formatEffect, formatInterval, formatPValue } from '../../lib/format.js';
import { Badge } from '../../lib/ui.js';

/**
 * One metric across the values of a dimension: per value its units and each treatment's effect,
 * interval and corrected p-value. Choosing a value filters the results by it. The API computes it
 * from unfiltered totals: `notApplied` names the page's filters it leaves out ("segment beta or the exposure dates"),
 * which it then says at its top, so that nobody reads it as filtered.
 */
export function BreakdownTable({ breakdown, metric, onChoose, notApplied = null }: { breakdown: ResultsBreakdownView; metric: string; onChoose: (value: string) => void; notApplied?: string | null }): ReactNode {
  const first = breakdown.values[0]?.results;
  const treatments = first?.variations.slice(1).map((v) => v.key) ?? [];
  // Headers by the variations' names, as the rest of the results view shows them.
  const names = new Map(first?.variations.map((v) => [v.key, v.name ?? v.key]) ?? []);
  const name = first?.metrics.find((m) => m.key === metric)?.name ?? metric;
  const unfiltered =
    notApplied === null ? null : (
      <p className="banner banner-warn" role="note">
        This breakdown by {breakdown.dimension} covers all units: it does not apply the {notApplied} chosen above. Choose a value to see the results for it with these filters.
      </p>
    );
  if (breakdown.values.length === 0) {
    return (
      <>
        {unfiltered}
        <p className="state state-empty">No unit has a value for {breakdown.dimension} yet.</p>
      </>
    );
  }
  return (
    <section aria-label={`Breakdown by ${breakdown.dimension}`}>
      {unfiltered}
      <table aria-label={`${name} by ${breakdown.dimension}`}>
        <caption className="small muted" style={{ textAlign: 'left' }}>
          {name} by {breakdown.dimension}: each value analysed on its own (corrections within a value, not across values: one significant value among many may be chance).
        </caption>
        <thead>
          <tr>
            <th>{breakdown.dimension}</th>
            <th className="num">Units</th>
            {treatments.map((t) => (
              <th key={t} className="num">
                <span className="break-anywhere">{names.get(t) ?? t}</span>: effect [CI], p
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {breakdown.values.map(({ value, results }) => {
            const m: MetricResultView | undefined = results.metrics.find((x) => x.key === metric);
            return (
              <tr key={value}>
                <td>
                  <button type="button" className="link" title={`Filter the results by ${breakdown.dimension} = ${value}`} onClick={() => { onChoose(value); }}>
                    {value}
                  </button>
                </td>
                <td className="num">{formatCount(results.units.analysed)}</td>
                {treatments.map((t) => {
                  const c = m?.variations.find((v) => v.variation === t)?.comparison ?? null;
                  return (
                    <td key={t} className="num">
                      {c === null || c.error !== null ? (
                        // No comparison for this value (too few units, no variance): a dash and why, not the API's placeholders.
                        <span className="muted" title={c?.error?.message ?? 'no comparison'}>
                          — {c?.error === undefined || c.error === null ? '' : <span className="small">{c.error.message}</span>}
                        </span>
                      ) : (
                        <>
                          {formatEffect(c.effect, c.difference)} {formatInterval(c.adjustedCi ?? c.ci, c.difference)}, {formatPValue(c.adjustedPValue)}{' '}
                          {c.significant ? <Badge tone={c.effect > 0 === m!.higherIsBetter ? 'good' : 'bad'}>significant</Badge> : null}
                        </>
                      )}
                    </td>
                  );
                })}
              </tr>
            );
          })}
        </tbody>
      </table>
      {breakdown.omitted.values === 0 ? null : (
        <p className="small muted">
          {formatCount(breakdown.omitted.values)} smaller values ({formatCount(breakdown.omitted.units)} units) not shown.
        </p>
      )}
    </section>
  );
}
