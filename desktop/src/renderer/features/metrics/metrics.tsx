import { useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError, metricSchema } from '@xp/shared';
import type { Metric, Stored } from '@xp/shared';
import { FormActions, useDefinitionForm, useDefinitionList } from '../../lib/definition-crud.js';
import { FieldError, FormErrorNote, invalidProps } from '../../lib/field-errors.js';
import { plainApiMessage, plainFieldIssues } from '../../lib/plain-issues.js';
import { allowanceProps, usePermission } from '../../lib/permissions.js';
import { AsyncView, Badge, Confirm, Dialog, Empty, ErrorNote, RowActions } from '../../lib/ui.js';

type FormType = 'conversion' | 'count' | 'sum';

interface Draft {
  key: string;
  name: string;
  description: string;
  type: Metric['type'];
  event: string;
  property: string;
  higherIsBetter: boolean;
  guardrail: boolean;
}

function draftOf(m: Stored<Metric> | undefined): Draft {
  if (m === undefined) {
    return { key: '', name: '', description: '', type: 'conversion', event: '', property: '', higherIsBetter: true, guardrail: false };
  }
  const d = m.definition;
  return { key: m.key, name: d.name, description: d.description ?? '', type: d.type, event: d.event ?? '', property: d.property ?? '', higherIsBetter: d.higherIsBetter, guardrail: d.guardrail };
}

/** The form's fields over the stored definition, so settings the form does not show (capping, ratio sides, tags) are kept. */
function definitionOf(d: Draft, existing: Metric | undefined): Record<string, unknown> {
  const { event: _event, property: _property, description: _description, ...rest } = existing ?? ({} as Partial<Metric>);
  const out: Record<string, unknown> = { ...rest, key: d.key.trim(), name: d.name.trim(), type: d.type, higherIsBetter: d.higherIsBetter, guardrail: d.guardrail };
  if (d.description.trim() !== '') {
    out.description = d.description.trim();
  }
  // Sent even empty, so the check before sending says "Event is required" like the other fields.
  if (d.type !== 'ratio') {
    out.event = d.event.trim();
  }
  if (d.type === 'sum' && d.property.trim() !== '') {
    out.property = d.property.trim();
  }
  if (d.type === 'conversion') {
    delete out.capping;
  }
  return out;
}

/** The labels of the fields the form shows, by the definition's field. */
const LABELS = { key: 'Key', name: 'Name', description: 'Description', event: 'Event', property: 'Property' } as const;
type ShownField = keyof typeof LABELS;

/** The fields the form shows for a type (a ratio's sides and the other settings are kept as they are). */
function shownFields(type: Metric['type']): ShownField[] {
  return ['key', 'name', 'description', ...(type === 'ratio' ? [] : (['event'] as const)), ...(type === 'sum' ? (['property'] as const) : [])];
}

/** The problems the metric schema finds in the shown fields, in plain words, before anything is sent. */
function draftProblems(definition: Record<string, unknown>, shown: readonly ShownField[]): Map<string, string> {
  const result = metricSchema.safeParse(definition);
  if (result.success) {
    return new Map();
  }
  const labels = Object.fromEntries(shown.map((f) => [f, LABELS[f]]));
  return plainFieldIssues(result.error.issues, labels, definition);
}

/** A create refused because the key is taken (409 ALREADY_EXISTS): a problem of the Key field. */
const isDuplicateKey = (error: unknown): error is ApiError => error instanceof ApiError && error.status === 409 && error.code === 'ALREADY_EXISTS';

/** Creates a metric, or edits one from the version it was opened at (If-Match). */
export function MetricForm({ existing, onClose, onSaved }: { existing?: Stored<Metric>; onClose: () => void; onSaved: () => void }): ReactNode {
  const form = useDefinitionForm('metrics', existing, draftOf, onSaved);
  const { base, draft, set, error, fields } = form;
  // Checked once the user tries to save, then as they type, so a fixed field's message goes away.
  const [checked, setChecked] = useState(false);
  const [sentKey, setSentKey] = useState<string | null>(null);
  const definition = definitionOf(draft, base?.definition);
  const shown = shownFields(draft.type);
  const problems = checked ? draftProblems(definition, shown) : new Map<string, string>();
  // The key stays taken only while it is the one sent.
  const duplicate = isDuplicateKey(error) && sentKey === definition.key ? error : undefined;
  const messageOf = (name: ShownField): string | undefined => {
    const problem = problems.get(name);
    if (problem !== undefined) {
      return problem;
    }
    if (name === 'key' && duplicate !== undefined) {
      return `${LABELS.key}: ${duplicate.message}; choose another key`;
    }
    const api = fields.get(name);
    return api === undefined ? undefined : plainApiMessage(LABELS[name], api, definition[name]);
  };
  const submit = async (): Promise<void> => {
    setChecked(true);
    if (draftProblems(definition, shown).size > 0) {
      form.clearError();
      return;
    }
    setSentKey(typeof definition.key === 'string' ? definition.key : null);
    await form.save(definition);
  };
  const field = (name: ShownField, value: string, onChange: (v: string) => void, extra: { disabled?: boolean; placeholder?: string } = {}): ReactNode => {
    const message = messageOf(name);
    return (
      <label>
        {LABELS[name]}
        <input value={value} {...extra} onChange={(e) => { onChange(e.target.value); }} {...invalidProps(`metric-${name}-error`, message)} />
        <FieldError id={`metric-${name}-error`} message={message} />
      </label>
    );
  };
  return (
    <Dialog title={base === undefined ? 'New metric' : `Edit metric ${base.key}`} onClose={onClose}>
      {field('key', draft.key, (key) => { set({ key }); }, { disabled: base !== undefined })}
      {field('name', draft.name, (name) => { set({ name }); })}
      {field('description', draft.description, (description) => { set({ description }); })}
      {draft.type === 'ratio' ? (
        <p className="small muted">A ratio metric: its numerator and denominator are kept as they are (edit them with the API or the CLI).</p>
      ) : (
        <>
          <label>
            Type
            <select value={draft.type} onChange={(e) => { set({ type: e.target.value as FormType }); }}>
              <option value="conversion">Conversion (did the unit send the event)</option>
              <option value="count">Count (events per unit)</option>
              <option value="sum">Sum (of an event property, or of the events' value, per unit)</option>
            </select>
          </label>
          {field('event', draft.event, (event) => { set({ event }); }, { placeholder: 'purchase_completed' })}
          {draft.type === 'sum' ? field('property', draft.property, (property) => { set({ property }); }, { placeholder: 'empty: the events\' value' }) : null}
        </>
      )}
      <label className="check">
        <input type="checkbox" checked={draft.higherIsBetter} onChange={(e) => { set({ higherIsBetter: e.target.checked }); }} />
        Higher is better
      </label>
      <label className="check">
        <input type="checkbox" checked={draft.guardrail} onChange={(e) => { set({ guardrail: e.target.checked }); }} />
        Guardrail
      </label>
      <FormErrorNote error={isDuplicateKey(error) ? null : error} shown={shown} />
      <FormActions form={form} noun="metric" onClose={onClose} onSubmit={() => void submit()} />
    </Dialog>
  );
}

type Aggregate = NonNullable<Metric['numerator']>;

/** What one side of a ratio adds up: "count of session", "sum of purchase.amount", "sum of purchase value". */
function aggregateText(a: Aggregate): string {
  return `${a.aggregation} of ${a.aggregation === 'sum' ? summed(a.event, a.property) : a.event}`;
}

/** A summed event's property, or its value when no property is named. */
function summed(event: string, property: string | undefined): string {
  return property === undefined ? `${event} value` : `${event}.${property}`;
}

/**
 * The list's Event column: the event of a conversion or count, what a sum adds up ("sum of
 * purchase.amount", "sum of purchase value"), or a ratio's "numerator ÷ denominator".
 */
export function measured(d: Metric): string {
  if (d.type === 'ratio') {
    return d.numerator === undefined || d.denominator === undefined ? '—' : `${aggregateText(d.numerator)} ÷ ${aggregateText(d.denominator)}`;
  }
  if (d.event === undefined) {
    return '—';
  }
  return d.type === 'sum' ? `sum of ${summed(d.event, d.property)}` : d.event;
}

/** Metrics experiments measure, from tracked events. */
export default function Metrics(): ReactNode {
  const { state, reload, editing, setEditing, deleting, setDeleting, deleteError, remove } = useDefinitionList('metrics');
  const write = usePermission('metrics:write');
  return (
    <>
      <div className="page-head">
        <h1>Metrics</h1>
        <button type="button" className="primary" {...allowanceProps(write)} onClick={() => { setEditing('new'); }}>
          New metric
        </button>
      </div>
      {deleteError === null ? null : <ErrorNote error={deleteError} />}
      <AsyncView state={state} onRetry={reload}>
        {(items) =>
          items.length === 0 ? (
            <Empty>No metrics yet. Metrics turn tracked events into per-unit numbers experiments compare.</Empty>
          ) : (
            <table aria-label="Metrics">
              <thead>
                <tr>
                  <th>Metric</th>
                  <th>Type</th>
                  <th>Event</th>
                  <th>Direction</th>
                  <th>Actions</th>
                </tr>
              </thead>
              <tbody>
                {items.map((m) => (
                  <tr key={m.key}>
                    <td>
                      {m.definition.name} {m.definition.guardrail ? <Badge tone="warn">guardrail</Badge> : null}
                      <div className="small muted">
                        <code>{m.key}</code>
                      </div>
                    </td>
                    <td>{m.definition.type}</td>
                    <td>{measured(m.definition)}</td>
                    <td>{m.definition.higherIsBetter ? 'higher is better' : 'lower is better'}</td>
                    <td>
                      <RowActions
                        allowance={write}
                        name={m.key}
                        onEdit={() => {
                          setEditing(m);
                        }}
                        onDelete={() => {
                          setDeleting(m);
                        }}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </AsyncView>
      {editing === null ? null : (
        <MetricForm
          {...(editing === 'new' ? {} : { existing: editing })}
          onClose={() => { setEditing(null); }}
          onSaved={() => {
            setEditing(null);
            reload();
          }}
        />
      )}
      {deleting === null ? null : (
        <Confirm
          title={`Delete metric ${deleting.key}?`}
          message="Experiments that measure it must stop using it first; the API refuses otherwise."
          confirmLabel="Delete metric"
          onConfirm={() => void remove(deleting)}
          onCancel={() => { setDeleting(null); }}
        />
      )}
    </>
  );
}
