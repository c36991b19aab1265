import { useState } from 'react';
import type { ReactNode } from 'react';
import { useSession } from '../../app/session.js';
import { formatCount, formatTime } from '../../lib/format.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Badge, Dialog, Empty, ErrorNote } from '../../lib/ui.js';
import { ConditionBuilder } from '../flags/condition-builder.js';
import { rowsToTargeting, validateRows } from '../flags/condition-model.js';
import type { ConditionRow } from '../flags/condition-model.js';

function NewSegment({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }): ReactNode {
  const { client, project } = useSession();
  const [key, setKey] = useState('');
  const [name, setName] = useState('');
  const [type, setType] = useState<'condition' | 'ids'>('condition');
  const [rows, setRows] = useState<ConditionRow[]>([]);
  const [ids, setIds] = useState('');
  const [error, setError] = useState<unknown>(null);
  const submit = async (): Promise<void> => {
    setError(null);
    try {
      if (type === 'condition') {
        if (validateRows(rows).size > 0 || rows.length === 0) {
          throw new Error('Add at least one valid attribute condition');
        }
        const t = rowsToTargeting(rows);
        await client.create(project, 'segments', { key, name, type, condition: t.condition ?? {} });
      } else {
        await client.create(project, 'segments', { key, name, type, values: ids.split(/[\s,]+/).filter((s) => s !== '') });
      }
      onCreated();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Dialog title="New segment" onClose={onClose}>
      <label>
        Key
        <input value={key} onChange={(e) => { setKey(e.target.value); }} />
      </label>
      <label>
        Name
        <input value={name} onChange={(e) => { setName(e.target.value); }} />
      </label>
      <label>
        Kind
        <select value={type} onChange={(e) => { setType(e.target.value as 'condition' | 'ids'); }}>
          <option value="condition">Attribute conditions</option>
          <option value="ids">List of unit ids</option>
        </select>
      </label>
      {type === 'condition' ? (
        <ConditionBuilder rows={rows.filter((r) => r.operator !== 'in-segment' && r.operator !== 'not-in-segment')} onChange={setRows} segments={[]} label="Segment conditions" />
      ) : (
        <label>
          Unit ids (comma or newline separated)
          <textarea rows={5} value={ids} onChange={(e) => { setIds(e.target.value); }} />
        </label>
      )}
      {error === null ? null : <ErrorNote error={error} />}
      <div className="actions">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary" onClick={() => void submit()}>
          Create segment
        </button>
      </div>
    </Dialog>
  );
}

/** Saved segments reused by flag rules and experiments. */
export default function Segments(): ReactNode {
  const { client, project, refreshTick } = useSession();
  const { state, reload } = useAsync(() => client.listAll(project, 'segments'), [client, project, refreshTick]);
  const [creating, setCreating] = useState(false);
  return (
    <>
      <div className="page-head">
        <h1>Segments</h1>
        <button type="button" className="primary" onClick={() => { setCreating(true); }}>
          New segment
        </button>
      </div>
      <AsyncView state={state} onRetry={reload}>
        {(items) =>
          items.length === 0 ? (
            <Empty>No segments yet. A segment is a saved audience (conditions or an id list) that rules and experiments can target.</Empty>
          ) : (
            <table aria-label="Segments">
              <thead>
                <tr>
                  <th>Segment</th>
                  <th>Kind</th>
                  <th>Definition</th>
                  <th>Updated</th>
                </tr>
              </thead>
              <tbody>
                {items.map((s) => (
                  <tr key={s.key}>
                    <td>
                      {s.definition.name}
                      <div className="small muted">
                        <code>{s.key}</code>
                      </div>
                    </td>
                    <td>
                      <Badge>{s.definition.type === 'ids' ? 'id list' : 'conditions'}</Badge>
                    </td>
                    <td>{s.definition.type === 'ids' ? `${formatCount(s.definition.values.length)} ids on ${s.definition.attribute}` : <code>{JSON.stringify(s.definition.condition)}</code>}</td>
                    <td className="small muted">{formatTime(s.updatedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </AsyncView>
      {creating ? (
        <NewSegment
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
