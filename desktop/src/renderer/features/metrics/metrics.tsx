import type { ReactNode } from 'react';
import type { Metric, Stored } from '@xp/shared';
import { FormActions, useDefinitionForm, useDefinitionList } from '../../lib/definition-crud.js';
import { FieldError, FormErrorNote, invalidProps } from '../../lib/field-errors.js';
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
  if (d.type !== 'ratio' && d.event.trim() !== '') {
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

/** Creates a metric, or edits one from the version it was opened at (If-Match). */
export function MetricForm({ existing, onClose, onSaved }: { existing?: Stored<Metric>; onClose: () => void; onSaved: () => void }): ReactNode {
  const form = useDefinitionForm('metrics', existing, draftOf, onSaved);
  const { base, draft, set, error, fields } = form;
  const submit = (): Promise<void> => form.save(definitionOf(draft, base?.definition));
  const field = (name: string, label: string, value: string, onChange: (v: string) => void, extra: { disabled?: boolean; placeholder?: string } = {}): ReactNode => (
    <label>
      {label}
      <input value={value} {...extra} onChange={(e) => { onChange(e.target.value); }} {...invalidProps(`metric-${name}-error`, fields.get(name))} />
      <FieldError id={`metric-${name}-error`} message={fields.get(name)} />
    </label>
  );
  return (
    <Dialog title={base === undefined ? 'New metric' : `Edit metric ${base.key}`} onClose={onClose}>
      {field('key', 'Key', draft.key, (key) => { set({ key }); }, { disabled: base !== undefined })}
      {field('name', 'Name', draft.name, (name) => { set({ name }); })}
      {field('description', 'Description', draft.description, (description) => { set({ description }); })}
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
          {field('event', 'Event', draft.event, (event) => { set({ event }); }, { placeholder: 'purchase_completed' })}
          {draft.type === 'sum' ? field('property', 'Property', draft.property, (property) => { set({ property }); }, { placeholder: 'empty: the events\' value' }) : null}
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
      <FormErrorNote error={error} shown={['key', 'name', 'description', ...(draft.type === 'ratio' ? [] : ['event']), ...(draft.type === 'sum' ? ['property'] : [])]} />
      <FormActions form={form} noun="metric" onClose={onClose} onSubmit={() => void submit()} />
    </Dialog>
  );
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
                    <td>
                      {m.definition.event ?? '—'}
                      {m.definition.property === undefined ? '' : `.${m.definition.property}`}
                    </td>
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
