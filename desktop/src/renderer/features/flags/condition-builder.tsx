import { useId } from 'react';
import type { ReactNode } from 'react';
import { OPERATOR_LABELS, Operator, emptyRow, isSegmentOperator, takesNoValue, validateRows } from './condition-model.js';
import type { ConditionRow, ValueType } from './condition-model.js';

const OPERATORS = Object.values(Operator);

export interface ConditionBuilderProps {
  readonly rows: readonly ConditionRow[];
  readonly onChange: (rows: ConditionRow[]) => void;
  /** Saved segment keys offered by the segment operators. */
  readonly segments: readonly string[];
  /** Attribute names to suggest (seen in other rules). */
  readonly attributes?: readonly string[];
  /** Accessible name of the group, e.g. "Conditions of rule 2". */
  readonly label?: string;
}

/** Rows of "attribute operator value" (all must hold), plus segment membership rows. */
export function ConditionBuilder({ rows, onChange, segments, attributes = [], label = 'Conditions' }: ConditionBuilderProps): ReactNode {
  const listId = useId();
  const problems = validateRows(rows);
  const update = (id: string, patch: Partial<ConditionRow>): void => {
    onChange(rows.map((r) => (r.id === id ? { ...r, ...patch } : r)));
  };
  return (
    <fieldset className="condition-builder" aria-label={label}>
      <legend className="muted small">{rows.length === 0 ? 'Everyone matches (no conditions)' : 'All of these must hold'}</legend>
      <datalist id={listId}>
        {attributes.map((a) => (
          <option key={a} value={a} />
        ))}
      </datalist>
      {rows.map((row, i) => {
        const n = i + 1;
        const problem = problems.get(row.id);
        const segmentOp = isSegmentOperator(row.operator);
        return (
          <div key={row.id} className="condition-row-wrap">
            <div className="condition-row">
              {segmentOp ? (
                <span className="muted">unit</span>
              ) : (
                <input aria-label={`Attribute ${n}`} list={listId} placeholder="attribute, e.g. country" value={row.attribute} onChange={(e) => { update(row.id, { attribute: e.target.value }); }} />
              )}
              <select aria-label={`Operator ${n}`} value={row.operator} onChange={(e) => { update(row.id, { operator: e.target.value as Operator }); }}>
                {OPERATORS.map((op) => (
                  <option key={op} value={op}>
                    {OPERATOR_LABELS[op]}
                  </option>
                ))}
              </select>
              {segmentOp ? (
                <select aria-label={`Segment ${n}`} value={row.value} onChange={(e) => { update(row.id, { value: e.target.value }); }}>
                  <option value="">Choose a segment…</option>
                  {segments.map((s) => (
                    <option key={s} value={s}>
                      {s}
                    </option>
                  ))}
                </select>
              ) : takesNoValue(row.operator) ? (
                <span />
              ) : (
                <input
                  aria-label={`Value ${n}`}
                  placeholder={row.operator === Operator.In || row.operator === Operator.Nin ? 'a, b, c' : 'value'}
                  value={row.value}
                  onChange={(e) => { update(row.id, { value: e.target.value }); }}
                  aria-invalid={problem === undefined ? undefined : true}
                />
              )}
              {segmentOp || takesNoValue(row.operator) || row.operator === Operator.Regex || row.operator === Operator.Contains ? (
                <span />
              ) : (
                <select aria-label={`Value type ${n}`} value={row.valueType} onChange={(e) => { update(row.id, { valueType: e.target.value as ValueType }); }}>
                  <option value="string">text</option>
                  <option value="number">number</option>
                  <option value="boolean">true/false</option>
                </select>
              )}
              <button type="button" className="ghost" aria-label={`Remove condition ${n}`} onClick={() => { onChange(rows.filter((r) => r.id !== row.id)); }}>
                ✕
              </button>
            </div>
            {problem === undefined ? null : (
              <p className="state-error small" role="alert">
                Condition {n}: {problem}
              </p>
            )}
          </div>
        );
      })}
      <div className="row">
        <button type="button" onClick={() => { onChange([...rows, emptyRow()]); }}>
          + Attribute condition
        </button>
        <button type="button" onClick={() => { onChange([...rows, { ...emptyRow(), operator: Operator.InSegment }]); }} disabled={segments.length === 0} title={segments.length === 0 ? 'No saved segments yet' : undefined}>
          + Segment
        </button>
      </div>
    </fieldset>
  );
}
