import { useState } from 'react';
import type { ReactNode } from 'react';
import { useSession } from '../../app/session.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Badge, Dialog, Empty, ErrorNote } from '../../lib/ui.js';

function NewMetric({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }): ReactNode {
  const { client, project } = useSession();
  const [key, setKey] = useState('');
  const [name, setName] = useState('');
  const [type, setType] = useState<'conversion' | 'count' | 'sum'>('conversion');
  const [event, setEvent] = useState('');
  const [property, setProperty] = useState('');
  const [higherIsBetter, setHigherIsBetter] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const submit = async (): Promise<void> => {
    setError(null);
    try {
      await client.create(project, 'metrics', { key, name, type, event, ...(type === 'sum' && property !== '' ? { property } : {}), higherIsBetter });
      onCreated();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Dialog title="New metric" onClose={onClose}>
      <label>
        Key
        <input value={key} onChange={(e) => { setKey(e.target.value); }} />
      </label>
      <label>
        Name
        <input value={name} onChange={(e) => { setName(e.target.value); }} />
      </label>
      <label>
        Type
        <select value={type} onChange={(e) => { setType(e.target.value as typeof type); }}>
          <option value="conversion">Conversion (did the unit send the event)</option>
          <option value="count">Count (events per unit)</option>
          <option value="sum">Sum (of an event property per unit)</option>
        </select>
      </label>
      <label>
        Event
        <input value={event} onChange={(e) => { setEvent(e.target.value); }} placeholder="purchase_completed" />
      </label>
      {type === 'sum' ? (
        <label>
          Property
          <input value={property} onChange={(e) => { setProperty(e.target.value); }} placeholder="value" />
        </label>
      ) : null}
      <label className="check">
        <input type="checkbox" checked={higherIsBetter} onChange={(e) => { setHigherIsBetter(e.target.checked); }} />
        Higher is better
      </label>
      {error === null ? null : <ErrorNote error={error} />}
      <div className="actions">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary" onClick={() => void submit()}>
          Create metric
        </button>
      </div>
    </Dialog>
  );
}

/** Metrics experiments measure, from tracked events. */
export default function Metrics(): ReactNode {
  const { client, project, refreshTick } = useSession();
  const { state, reload } = useAsync(() => client.listAll(project, 'metrics'), [client, project, refreshTick]);
  const [creating, setCreating] = useState(false);
  return (
    <>
      <div className="page-head">
        <h1>Metrics</h1>
        <button type="button" className="primary" onClick={() => { setCreating(true); }}>
          New metric
        </button>
      </div>
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
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </AsyncView>
      {creating ? (
        <NewMetric
          onClose={() => { setCreating(false); }}
          onCreated={() => {
            setCreating(false);
            reload();
          }}
        />
      ) : null}
    </>
  );
}
