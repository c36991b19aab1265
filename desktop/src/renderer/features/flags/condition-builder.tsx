import { useId, useState } from 'react';
import type { ReactNode } from 'react';
import { OPERATOR_LABELS, Operator, emptyRow, isSegmentOperator, problemField, takesNoValue, validateRows } from './condition-model.js';
import type { ConditionRow, ValueType } from './condition-model.js';
import { useRemovalFocus } from '../../lib/removal-focus.js';

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
  const removed = useRemovalFocus();
  /** Rows the user has changed or left the attribute of: a new, empty row says nothing before that. */
  const [touched, setTouched] = useState<ReadonlySet<string>>(() => new Set());
  const touch = (id: string): void => {
    setTouched((t) => (t.has(id) ? t : new Set([...t, id])));
  };
  const update = (id: string, patch: Partial<ConditionRow>): void => {
    touch(id);
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
        const pristine = !touched.has(row.id) && row.attribute === '' && row.value === '';
        const problem = pristine ? undefined : problems.get(row.id);
        const errorId = `${listId}-problem-${row.id}`;
        /** aria-invalid and the message for the field the problem is about. */
        const invalid = (field: ReturnType<typeof problemField>): { 'aria-invalid'?: true; 'aria-describedby'?: string } =>
          problem !== undefined && problemField(row) === field ? { 'aria-invalid': true, 'aria-describedby': errorId } : {};
        const segmentOp = isSegmentOperator(row.operator);
        return (
          <div key={row.id} className="condition-row-wrap">
            <div className="condition-row">
              {segmentOp ? (
                <span className="muted">unit</span>
              ) : (
                <input
                  aria-label={`Attribute ${n}`}
                  list={listId}
                  placeholder="attribute, e.g. country"
                  value={row.attribute}
                  onChange={(e) => { update(row.id, { attribute: e.target.value }); }}
                  onBlur={() => { touch(row.id); }}
                  {...invalid('attribute')}
                />
              )}
              <select aria-label={`Operator ${n}`} value={row.operator} onChange={(e) => { update(row.id, { operator: e.target.value as Operator }); }}>
                {OPERATORS.map((op) => (
                  <option key={op} value={op}>
                    {OPERATOR_LABELS[op]}
                  </option>
                ))}
              </select>
              {segmentOp ? (
                <select aria-label={`Segment ${n}`} value={row.value} onChange={(e) => { update(row.id, { value: e.target.value }); }} onBlur={() => { touch(row.id); }} {...invalid('segment')}>
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
                  {...invalid('value')}
                />
              )}
              {segmentOp || takesNoValue(row.operator) || row.operator === Operator.Regex || row.operator === Operator.Contains ? (
                <span />
              ) : (
                <select aria-label={`Value type ${n}`} value={row.valueType} onChange={(e) => { update(row.id, { valueType: e.target.value as ValueType }); }} {...invalid('valueType')}>
                  <option value="string">text</option>
                  <option value="number">number</option>
                  <option value="boolean">true/false</option>
                </select>
              )}
              <button
                type="button"
                className="ghost"
                aria-label={`Remove condition ${n}`}
                onClick={(e) => {
                  removed({ root: e.currentTarget.closest('.condition-builder'), label: (k) => `Remove condition ${k}`, index: i, remaining: rows.length - 1, add: '+ Attribute condition' });
                  onChange(rows.filter((r) => r.id !== row.id));
                }}
              >
                ✕
              </button>
            </div>
            {problem === undefined ? null : (
              <p id={errorId} className="state-error small" role="alert">
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
