import type { ReactNode } from 'react';
import { formatPercent } from '../../lib/format.js';
import { addCalendarDays, localTimeZone } from '../../lib/zoned-time.js';
import { ConditionBuilder } from './condition-builder.js';
import { fromLocalInput, rampStatus, rampWarnings, toLocalInput } from './rule-model.js';
import type { RuleDraft, RuleType } from './rule-model.js';

const TYPE_LABELS: Record<RuleType, string> = {
  force: 'Serve a variation',
  rollout: 'Percentage rollout',
  split: 'Split by weight',
  experiment: 'Run an experiment',
};

export interface RuleEditorProps {
  readonly draft: RuleDraft;
  readonly index: number;
  readonly count: number;
  readonly onChange: (draft: RuleDraft) => void;
  /** `pressed`: the Delete button, for where the focus goes next. */
  readonly onRemove: (pressed: HTMLElement) => void;
  readonly onMove: (delta: -1 | 1) => void;
  readonly variations: readonly string[];
  readonly segments: readonly string[];
  readonly experiments: readonly string[];
  readonly attributes?: readonly string[];
  /** The current time (ms), for the ramp's "serving now"; default Date.now(). */
  readonly now?: number;
}

/** "14:41" today, "Jan 1, 2020, 10:00" otherwise. */
function when(iso: string, now: number): string {
  const d = new Date(iso);
  const today = new Date(now);
  return d.toDateString() === today.toDateString()
    ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** One targeting rule: who it applies to (condition builder) and what they get. */
export function RuleEditor({ draft, index, count, onChange, onRemove, onMove, variations, segments, experiments, attributes = [], now = Date.now() }: RuleEditorProps): ReactNode {
  const n = index + 1;
  const set = (patch: Partial<RuleDraft>): void => {
    onChange({ ...draft, ...patch });
  };
  const percent = Math.round(draft.coverage * 1000) / 10;
  const ramp = draft.type === 'rollout' ? rampStatus(draft.schedule, now) : { current: null, next: null };
  const rampProblems = draft.type === 'rollout' ? rampWarnings(draft, now) : new Map<number, string>();
  return (
    <section className="rule" aria-label={`Rule ${n}`}>
      <div className="row">
        <strong>Rule {n}</strong>
        <label className="inline">
          Id
          <input aria-label={`Rule ${n} id`} value={draft.id} size={12} onChange={(e) => { set({ id: e.target.value }); }} />
        </label>
        <label className="inline">
          Type
          <select aria-label={`Rule ${n} type`} value={draft.type} onChange={(e) => { set({ type: e.target.value as RuleType }); }}>
            {Object.entries(TYPE_LABELS).map(([t, label]) => (
              <option key={t} value={t}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label className="check">
          <input type="checkbox" checked={draft.enabled} onChange={(e) => { set({ enabled: e.target.checked }); }} />
          Enabled
        </label>
        <span className="spacer" />
        <button type="button" className="ghost" aria-label={`Move rule ${n} up`} disabled={index === 0} onClick={() => { onMove(-1); }}>
          ↑
        </button>
        <button type="button" className="ghost" aria-label={`Move rule ${n} down`} disabled={index === count - 1} onClick={() => { onMove(1); }}>
          ↓
        </button>
        <button type="button" className="danger" aria-label={`Delete rule ${n}`} onClick={(e) => { onRemove(e.currentTarget); }}>
          Delete
        </button>
      </div>
      <label>
        Description
        <input aria-label={`Rule ${n} description`} value={draft.description} onChange={(e) => { set({ description: e.target.value }); }} />
      </label>
      <h3 className="rule-part">If</h3>
      {draft.advanced === null ? null : (
        <label>
          Condition (JSON; too complex for the builder)
          <textarea aria-label={`Rule ${n} condition JSON`} rows={5} value={draft.advanced} onChange={(e) => { set({ advanced: e.target.value }); }} />
        </label>
      )}
      <ConditionBuilder
        label={`Conditions of rule ${n}`}
        rows={draft.advanced === null ? draft.rows : draft.rows.filter((r) => r.operator === 'in-segment' || r.operator === 'not-in-segment')}
        onChange={(rows) => { set({ rows }); }}
        segments={segments}
        attributes={attributes}
      />
      <h3 className="rule-part">Then</h3>
      {draft.type === 'force' || draft.type === 'rollout' ? (
        <label className="inline">
          Serve
          <select aria-label={`Rule ${n} variation`} value={draft.variation} onChange={(e) => { set({ variation: e.target.value }); }}>
            <option value="">Choose…</option>
            {variations.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      {draft.type === 'rollout' ? (
        <>
          <div className="row">
            <label className="inline">
              to
              <input
                type="range"
                min={0}
                max={100}
                step={1}
                aria-label={`Rule ${n} rollout percentage`}
                aria-valuetext={formatPercent(draft.coverage, { digits: 0 })}
                value={percent}
                onChange={(e) => { set({ coverage: Number(e.target.value) / 100 }); }}
              />
            </label>
            <input
              type="number"
              min={0}
              max={100}
              step={0.1}
              aria-label={`Rule ${n} rollout percent`}
              value={percent}
              style={{ width: '5.5em' }}
              onChange={(e) => { set({ coverage: Math.min(100, Math.max(0, Number(e.target.value))) / 100 }); }}
            />
            <span>% of matching units, bucketed by</span>
            <input aria-label={`Rule ${n} hash attribute`} value={draft.hashAttribute} size={8} onChange={(e) => { set({ hashAttribute: e.target.value }); }} />
          </div>
          {ramp.current !== null || ramp.next !== null ? (
            <p className="small" aria-label={`Rule ${n} coverage now`}>
              {ramp.current === null ? (
                <>Serving {formatPercent(draft.coverage, { digits: 0 })} now (no ramp step has started).</>
              ) : (
                <strong>
                  Serving {formatPercent(ramp.current.coverage, { digits: 0 })} since {when(ramp.current.at, now)} (ramp step)
                  {ramp.current.coverage === draft.coverage ? '.' : `, not the ${formatPercent(draft.coverage, { digits: 0 })} above: the latest started step wins.`}
                </strong>
              )}
              {ramp.next === null ? null : <> Next: {formatPercent(ramp.next.coverage, { digits: 0 })} at {when(ramp.next.at, now)}.</>}
            </p>
          ) : null}
          <fieldset aria-label={`Rule ${n} scheduled ramp`}>
            <legend className="small muted">Scheduled ramp (each step sets the rollout from its time on)</legend>
            {draft.schedule.map((step, i) => (
              <div className="row" key={i}>
                <input
                  type="datetime-local"
                  aria-label={`Ramp step ${i + 1} time`}
                  value={toLocalInput(step.at)}
                  onChange={(e) => { set({ schedule: draft.schedule.map((s, j) => (j === i ? { ...s, at: fromLocalInput(e.target.value) } : s)) }); }}
                />
                <input
                  type="number"
                  min={0}
                  max={100}
                  aria-label={`Ramp step ${i + 1} percent`}
                  value={Math.round(step.coverage * 1000) / 10}
                  style={{ width: '5.5em' }}
                  onChange={(e) => { set({ schedule: draft.schedule.map((s, j) => (j === i ? { ...s, coverage: Math.min(100, Math.max(0, Number(e.target.value))) / 100 } : s)) }); }}
                />
                %
                <button type="button" className="ghost" aria-label={`Remove ramp step ${i + 1}`} onClick={() => { set({ schedule: draft.schedule.filter((_s, j) => j !== i) }); }}>
                  ✕
                </button>
                {rampProblems.has(i) ? (
                  <p className="state-warn small" role="alert" style={{ flexBasis: '100%' }}>
                    {rampProblems.get(i)}
                  </p>
                ) : null}
              </div>
            ))}
            <button
              type="button"
              onClick={() => {
                const last = draft.schedule[draft.schedule.length - 1];
                // The same time of day the next calendar day, in the time zone the step times are shown
                // in (adding 24 hours would be an hour off across a daylight-saving change), after the
                // last step, or from now when there is none or its time was cleared.
                const lastAt = last === undefined ? Number.NaN : Date.parse(last.at);
                const at = new Date(addCalendarDays(Number.isNaN(lastAt) ? Date.now() : lastAt, 1, localTimeZone())).toISOString();
                set({ schedule: [...draft.schedule, { at, coverage: Math.min(1, (last?.coverage ?? draft.coverage) * 2) }] });
              }}
            >
              + Ramp step
            </button>
          </fieldset>
        </>
      ) : null}
      {draft.type === 'split' ? (
        <div>
          {draft.distribution.map((d, i) => (
            <div className="row" key={d.variation}>
              <span style={{ minWidth: '8em' }}>{d.variation}</span>
              <input
                type="number"
                min={0}
                max={100}
                step={0.1}
                aria-label={`Rule ${n} weight of ${d.variation}`}
                value={Math.round(d.weight * 1000) / 10}
                style={{ width: '6em' }}
                onChange={(e) => { set({ distribution: draft.distribution.map((x, j) => (j === i ? { ...x, weight: Number(e.target.value) / 100 } : x)) }); }}
              />
              %
            </div>
          ))}
          {variations.filter((v) => !draft.distribution.some((d) => d.variation === v)).map((v) => (
            <button key={v} type="button" onClick={() => { set({ distribution: [...draft.distribution, { variation: v, weight: 0 }] }); }}>
              + {v}
            </button>
          ))}
        </div>
      ) : null}
      {draft.type === 'experiment' ? (
        <label className="inline">
          Experiment
          <select aria-label={`Rule ${n} experiment`} value={draft.experiment} onChange={(e) => { set({ experiment: e.target.value }); }}>
            <option value="">Choose…</option>
            {experiments.map((x) => (
              <option key={x} value={x}>
                {x}
              </option>
            ))}
          </select>
        </label>
      ) : null}
    </section>
  );
}
