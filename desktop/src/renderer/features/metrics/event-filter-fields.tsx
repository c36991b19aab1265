import type { ReactNode } from 'react';
import { FieldError } from '../../lib/field-errors.js';
import { useRemovalFocus } from '../../lib/removal-focus.js';
import { FILTER_OPERATORS, OPERATOR_WORDS, VALUE_TYPE_WORDS, emptyFilterRow, isList, patchRow, takesNoValue, valueTypesOf } from './event-filter.js';
import type { FilterControl, FilterDraft, FilterOperator, FilterRow, FilterValueType } from './event-filter.js';

export interface EventFilterFieldsProps {
  /** Prefix of the ids of its messages: "metric-where", "metric-numerator-where". */
  readonly id: string;
  readonly filter: FilterDraft;
  readonly onChange: (filter: FilterDraft) => void;
  /** The message shown beside row `index` (from 0), already in words ("Filter 2: …"), and the control it is about. */
  readonly rowMessage: (index: number) => { readonly control: FilterControl; readonly message: string } | undefined;
  /** A problem of the filter as a whole ("at most 20 properties"). */
  readonly message: string | undefined;
}

const ADD = 'Add filter';

/** "Only count events where…": rows of "property operator value", all of which must hold. */
export function EventFilterFields({ id, filter, onChange, rowMessage, message }: EventFilterFieldsProps): ReactNode {
  const removed = useRemovalFocus();
  const { rows, kept } = filter;
  const update = (index: number, patch: Partial<Omit<FilterRow, 'id'>>): void => {
    onChange({ rows: rows.map((r, i) => (i === index ? patchRow(r, patch) : r)) });
  };
  return (
    <fieldset className="event-filter">
      <legend>Only count events where…</legend>
      <p className="small muted">
        Every filter must hold (they are combined with AND). Values match by type: the number 10 is not the text &quot;10&quot;; &quot;is not&quot; and
        &quot;is none of&quot; also count events without the property. &gt; ≥ &lt; ≤ compare a number with numbers, or a text with texts
        alphabetically, which suits ISO dates (2026-12-01).
      </p>
      {kept !== undefined ? (
        <>
          <p className="small">This filter has a form the rows cannot show; it is saved as it is:</p>
          <pre>
            <code>{JSON.stringify(kept, null, 2)}</code>
          </pre>
          <button type="button" onClick={() => { onChange({ rows: [] }); }}>
            Clear this filter
          </button>
        </>
      ) : rows.length === 0 ? (
        <p className="small muted">No filter: every event counts.</p>
      ) : (
        rows.map((row, i) => {
          const n = i + 1;
          const problem = rowMessage(i);
          const errorId = `${id}-${n}-error`;
          const invalid = (control: FilterControl): { 'aria-invalid'?: true; 'aria-describedby'?: string } => (problem?.control === control ? { 'aria-invalid': true, 'aria-describedby': errorId } : {});
          const types = valueTypesOf(row.operator);
          const comparison = types.length > 0 && !types.includes('boolean');
          return (
            <div key={row.id} className="condition-row-wrap">
              <div className="condition-row">
                <input aria-label={`Filter ${n} property`} placeholder="property, e.g. plan" value={row.property} onChange={(e) => { update(i, { property: e.target.value }); }} {...invalid('property')} />
                <select aria-label={`Filter ${n} operator`} value={row.operator} onChange={(e) => { update(i, { operator: e.target.value as FilterOperator }); }} {...invalid('operator')}>
                  {FILTER_OPERATORS.map((op) => (
                    <option key={op} value={op}>
                      {OPERATOR_WORDS[op]}
                    </option>
                  ))}
                </select>
                {takesNoValue(row.operator) ? (
                  <span />
                ) : row.valueType === 'boolean' && !isList(row.operator) ? (
                  <select aria-label={`Filter ${n} value`} value={row.value} onChange={(e) => { update(i, { value: e.target.value }); }} {...invalid('value')}>
                    <option value="true">true</option>
                    <option value="false">false</option>
                  </select>
                ) : isList(row.operator) ? (
                  <textarea aria-label={`Filter ${n} value`} rows={2} placeholder="pro, team — or one per line" value={row.value} onChange={(e) => { update(i, { value: e.target.value }); }} {...invalid('value')} />
                ) : (
                  <input
                    aria-label={`Filter ${n} value`}
                    placeholder={row.valueType === 'number' ? 'e.g. 10' : comparison ? 'e.g. 2026-12-01' : 'e.g. pro'}
                    {...(row.valueType === 'number' ? { inputMode: 'decimal' as const } : {})}
                    value={row.value}
                    onChange={(e) => { update(i, { value: e.target.value }); }}
                    {...invalid('value')}
                  />
                )}
                {types.length === 0 ? (
                  <span />
                ) : (
                  <select aria-label={`Filter ${n} value type`} value={row.valueType} onChange={(e) => { update(i, { valueType: e.target.value as FilterValueType }); }} {...invalid('valueType')}>
                    {types.map((t) => (
                      <option key={t} value={t}>
                        {VALUE_TYPE_WORDS[t]}
                      </option>
                    ))}
                  </select>
                )}
                <button
                  type="button"
                  className="ghost"
                  aria-label={`Remove filter ${n}`}
                  onClick={(e) => {
                    removed({ root: e.currentTarget.closest('.event-filter'), label: (k) => `Remove filter ${k}`, index: i, remaining: rows.length - 1, add: ADD });
                    onChange({ rows: rows.filter((r) => r.id !== row.id) });
                  }}
                >
                  ✕
                </button>
              </div>
              <FieldError id={errorId} message={problem?.message} />
            </div>
          );
        })
      )}
      <FieldError id={`${id}-error`} message={message} />
      {kept !== undefined ? null : (
        <div className="row">
          <button type="button" onClick={() => { onChange({ rows: [...rows, emptyFilterRow()] }); }}>
            {ADD}
          </button>
        </div>
      )}
    </fieldset>
  );
}
