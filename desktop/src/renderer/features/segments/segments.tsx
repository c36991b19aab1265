import { useState } from 'react';
import type { ReactNode } from 'react';
import type { Segment, Stored } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { routeHash } from '../../app/router.js';
import { FormActions, useDefinitionForm, useDefinitionList } from '../../lib/definition-crud.js';
import { FieldError, FormErrorNote, invalidProps } from '../../lib/field-errors.js';
import { allowanceProps, usePermission } from '../../lib/permissions.js';
import { commaList, formatCount, formatTime } from '../../lib/format.js';
import { AsyncView, Badge, Confirm, Dialog, Empty, ErrorNote, RowActions } from '../../lib/ui.js';
import { ConditionBuilder } from '../flags/condition-builder.js';
import { rowsToTargeting, targetingToRows, validateRows } from '../flags/condition-model.js';
import type { ConditionRow } from '../flags/condition-model.js';
import { segmentInUse } from './segment-references.js';
import type { SegmentUser } from './segment-references.js';
import { plainApiMessage } from '../../lib/plain-issues.js';

interface Draft {
  key: string;
  name: string;
  description: string;
  type: 'condition' | 'ids';
  rows: ConditionRow[];
  /** A condition the builder cannot express, kept as JSON text. */
  json: string | null;
  attribute: string;
  ids: string;
  /** Comma-separated (`xp apply` scopes a repository's segments by a tag). */
  tags: string;
}

function draftOf(s: Stored<Segment> | undefined): Draft {
  if (s === undefined) {
    return { key: '', name: '', description: '', type: 'condition', rows: [], json: null, attribute: 'id', ids: '', tags: '' };
  }
  const d = s.definition;
  const base = { key: s.key, name: d.name, description: d.description ?? '', tags: (d.tags ?? []).join(', ') };
  if (d.type === 'ids') {
    return { ...base, type: 'ids', rows: [], json: null, attribute: d.attribute, ids: d.values.join('\n') };
  }
  const { rows, advanced } = targetingToRows({ condition: d.condition });
  return { ...base, type: 'condition', rows, json: advanced === null ? null : JSON.stringify(advanced, null, 2), attribute: 'id', ids: '' };
}

function definitionOf(d: Draft): { definition: Record<string, unknown> } | { field: string; message: string } {
  const tags = commaList(d.tags);
  const base = { key: d.key.trim(), name: d.name.trim(), ...(d.description.trim() === '' ? {} : { description: d.description.trim() }), ...(tags.length === 0 ? {} : { tags }) };
  if (d.type === 'ids') {
    return { definition: { ...base, type: 'ids', attribute: d.attribute.trim() === '' ? 'id' : d.attribute.trim(), values: d.ids.split(/[\s,]+/).filter((s) => s !== '') } };
  }
  if (d.json !== null) {
    try {
      return { definition: { ...base, type: 'condition', condition: JSON.parse(d.json) as unknown } };
    } catch {
      return { field: 'condition', message: 'The condition is not valid JSON' };
    }
  }
  if (d.rows.length === 0 || validateRows(d.rows).size > 0) {
    return { field: 'condition', message: 'Add at least one valid attribute condition' };
  }
  return { definition: { ...base, type: 'condition', condition: rowsToTargeting(d.rows).condition ?? {} } };
}

/** The labels of the fields whose API messages are reworded. */
const SEGMENT_LABELS: Readonly<Record<string, string>> = { key: 'Key', name: 'Name', description: 'Description', attribute: 'Attribute', tags: 'Tags' };

/** Creates a segment, or edits one from the version it was opened at (If-Match). */
export function SegmentForm({ existing, onClose, onSaved }: { existing?: Stored<Segment>; onClose: () => void; onSaved: () => void }): ReactNode {
  const form = useDefinitionForm('segments', existing, draftOf, onSaved);
  const { base, draft, set, error, fields } = form;
  const [local, setLocal] = useState<{ field: string; message: string } | null>(null);
  const msg = (field: string): string | undefined => {
    if (local?.field === field) {
      return local.message;
    }
    // The API's schema wording ("Too big: expected string to have <=200 characters") in plain words, as the metric form does.
    const api = fields.get(field);
    const label = SEGMENT_LABELS[field];
    return api === undefined || label === undefined ? api : plainApiMessage(label, api, (draft as unknown as Readonly<Record<string, unknown>>)[field]);
  };
  const submit = async (): Promise<void> => {
    form.clearError();
    setLocal(null);
    const result = definitionOf(draft);
    if ('field' in result) {
      setLocal(result);
      return;
    }
    await form.save(result.definition);
  };
  const conditionMessage = msg('condition') ?? msg('values');
  return (
    <Dialog title={base === undefined ? 'New segment' : `Edit segment ${base.key}`} onClose={onClose}>
      <label>
        Key
        <input value={draft.key} disabled={base !== undefined} onChange={(e) => { set({ key: e.target.value }); }} {...invalidProps('segment-key-error', msg('key'))} />
      </label>
      <FieldError id="segment-key-error" message={msg('key')} />
      <label>
        Name
        <input value={draft.name} onChange={(e) => { set({ name: e.target.value }); }} {...invalidProps('segment-name-error', msg('name'))} />
      </label>
      <FieldError id="segment-name-error" message={msg('name')} />
      <label>
        Description
        <input value={draft.description} onChange={(e) => { set({ description: e.target.value }); }} {...invalidProps('segment-description-error', msg('description'))} />
      </label>
      <FieldError id="segment-description-error" message={msg('description')} />
      <label>
        Tags
        <input value={draft.tags} placeholder="comma-separated: checkout, repo-a" onChange={(e) => { set({ tags: e.target.value }); }} {...invalidProps('segment-tags-error', msg('tags'))} />
      </label>
      <FieldError id="segment-tags-error" message={msg('tags')} />
      <label>
        Kind
        <select value={draft.type} onChange={(e) => { set({ type: e.target.value as Draft['type'] }); }}>
          <option value="condition">Attribute conditions</option>
          <option value="ids">List of unit ids</option>
        </select>
      </label>
      {draft.type === 'condition' ? (
        draft.json === null ? (
          <ConditionBuilder rows={draft.rows.filter((r) => r.operator !== 'in-segment' && r.operator !== 'not-in-segment')} onChange={(rows) => { set({ rows }); }} segments={[]} label="Segment conditions" />
        ) : (
          <label>
            Condition (JSON)
            <textarea rows={6} value={draft.json} onChange={(e) => { set({ json: e.target.value }); }} {...invalidProps('segment-condition-error', conditionMessage)} />
          </label>
        )
      ) : (
        <>
          <label>
            Matched attribute
            <input value={draft.attribute} onChange={(e) => { set({ attribute: e.target.value }); }} {...invalidProps('segment-attribute-error', msg('attribute'))} />
          </label>
          <FieldError id="segment-attribute-error" message={msg('attribute')} />
          <label>
            Unit ids (comma or newline separated)
            <textarea rows={5} value={draft.ids} onChange={(e) => { set({ ids: e.target.value }); }} {...invalidProps('segment-condition-error', conditionMessage)} />
          </label>
        </>
      )}
      <FieldError id="segment-condition-error" message={conditionMessage} />
      <FormErrorNote error={error} shown={['key', 'name', 'description', 'tags', 'condition', 'values', ...(draft.type === 'ids' ? ['attribute'] : [])]} />
      <FormActions form={form} noun="segment" onClose={onClose} onSubmit={() => void submit()} />
    </Dialog>
  );
}

function UserItem({ user }: { user: SegmentUser }): ReactNode {
  const { environments } = useSession();
  switch (user.kind) {
    case 'flag':
      return (
        <>
          flag <a href={routeHash({ screen: 'flag', key: user.key })}>{user.key}</a> ({user.rules.length === 1 ? 'rule' : 'rules'} {user.rules.join(', ')} in{' '}
          {environments.find((e) => e.key === user.environment)?.name ?? user.environment})
        </>
      );
    case 'experiment':
      return (
        <>
          experiment <a href={routeHash({ screen: 'experiment', key: user.key })}>{user.key}</a> (its targeting)
        </>
      );
    case 'segment':
      return (
        <>
          segment <code>{user.key}</code> (its condition)
        </>
      );
    case 'other':
      return user.text;
  }
}

/**
 * Why a segment could not be deleted: the flags, experiments and segments that still use it, named
 * and linked, where the API's own message only says the change "leaves environment … with broken
 * references". Other errors are shown as they are.
 */
function DeleteSegmentError({ error, segmentKey }: { error: unknown; segmentKey: string }): ReactNode {
  const { environments } = useSession();
  const inUse = segmentInUse(error);
  if (inUse === null) {
    return <ErrorNote error={error} />;
  }
  const env = inUse.environment === null ? null : (environments.find((e) => e.key === inUse.environment)?.name ?? inUse.environment);
  return (
    <div className="state state-error" role="alert">
      <p>
        Segment <code>{segmentKey}</code> is still used{env === null ? '' : ` in ${env}`}, so it was not deleted. Remove it from {inUse.users.length === 1 ? 'this' : 'these'} first:
      </p>
      <ul aria-label={`What uses segment ${segmentKey}`}>
        {inUse.users.map((u, i) => (
          <li key={i}>
            <UserItem user={u} />
          </li>
        ))}
      </ul>
      {env === null ? null : <p className="small">The check stops at the first environment it breaks: other environments may use the segment too.</p>}
    </div>
  );
}

/** Saved segments reused by flag rules and experiments. */
export default function Segments(): ReactNode {
  const { state, reload, editing, setEditing, deleting, setDeleting, deleteError, remove } = useDefinitionList('segments');
  const write = usePermission('segments:write');
  /** The segment the last deletion was asked for: its error names what still uses it. */
  const [removed, setRemoved] = useState('');
  return (
    <>
      <div className="page-head">
        <h1>Segments</h1>
        <button type="button" className="primary" {...allowanceProps(write)} onClick={() => { setEditing('new'); }}>
          New segment
        </button>
      </div>
      {deleteError === null ? null : <DeleteSegmentError error={deleteError} segmentKey={removed} />}
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
                  <th>
                    Actions
                  </th>
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
                    <td>
                      <RowActions
                        allowance={write}
                        name={s.key}
                        onEdit={() => {
                          setEditing(s);
                        }}
                        onDelete={() => {
                          setDeleting(s);
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
        <SegmentForm
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
          title={`Delete segment ${deleting.key}?`}
          message="Rules and experiments that target it must stop using it first; the API refuses otherwise."
          confirmLabel="Delete segment"
          onConfirm={() => {
            setRemoved(deleting.key);
            void remove(deleting);
          }}
          onCancel={() => { setDeleting(null); }}
        />
      )}
    </>
  );
}
