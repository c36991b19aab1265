import { useState } from 'react';
import type { ReactNode } from 'react';
import { ApiError } from '@xp/shared';
import type { Metric, Stored } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { FieldError, fieldErrors, invalidProps } from '../../lib/field-errors.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Badge, Confirm, Dialog, Empty, ErrorNote } from '../../lib/ui.js';

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
  const { client, project } = useSession();
  const [base, setBase] = useState(existing);
  const [draft, setDraft] = useState<Draft>(() => draftOf(existing));
  const [error, setError] = useState<unknown>(null);
  const set = (patch: Partial<Draft>): void => {
    setDraft((d) => ({ ...d, ...patch }));
  };
  const fields = fieldErrors(error);
  const conflict = error instanceof ApiError && error.status === 409;
  const submit = async (): Promise<void> => {
    setError(null);
    try {
      const definition = definitionOf(draft, base?.definition);
      if (base === undefined) {
        await client.create(project, 'metrics', definition);
      } else {
        await client.replace(project, 'metrics', base.key, definition, base.version);
      }
      onSaved();
    } catch (e) {
      setError(e);
    }
  };
  const reload = async (): Promise<void> => {
    if (base === undefined) {
      return;
    }
    try {
      const latest = await client.get(project, 'metrics', base.key);
      setBase(latest);
      setDraft(draftOf(latest));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
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
              <option value="sum">Sum (of an event property per unit)</option>
            </select>
          </label>
          {field('event', 'Event', draft.event, (event) => { set({ event }); }, { placeholder: 'purchase_completed' })}
          {draft.type === 'sum' ? field('property', 'Property', draft.property, (property) => { set({ property }); }, { placeholder: 'value' }) : null}
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
      {error === null || fields.size > 0 ? null : <ErrorNote error={error} />}
      <div className="actions">
        {conflict ? (
          <button type="button" onClick={() => void reload()}>
            Reload their version
          </button>
        ) : null}
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary" onClick={() => void submit()}>
          {base === undefined ? 'Create metric' : 'Save metric'}
        </button>
      </div>
    </Dialog>
  );
}

/** Metrics experiments measure, from tracked events. */
export default function Metrics(): ReactNode {
  const { client, project, refreshTick } = useSession();
  const { state, reload } = useAsync(() => client.listAll(project, 'metrics'), [client, project, refreshTick]);
  const [editing, setEditing] = useState<Stored<Metric> | 'new' | null>(null);
  const [deleting, setDeleting] = useState<Stored<Metric> | null>(null);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  const remove = async (m: Stored<Metric>): Promise<void> => {
    setDeleting(null);
    setDeleteError(null);
    try {
      await client.remove(project, 'metrics', m.key, m.version);
    } catch (e) {
      setDeleteError(e);
    }
    reload();
  };
  return (
    <>
      <div className="page-head">
        <h1>Metrics</h1>
        <button type="button" className="primary" onClick={() => { setEditing('new'); }}>
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
                      <button type="button" aria-label={`Edit ${m.key}`} onClick={() => { setEditing(m); }}>
                        Edit
                      </button>{' '}
                      <button type="button" aria-label={`Delete ${m.key}`} onClick={() => { setDeleting(m); }}>
                        Delete
                      </button>
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
