import { useId, useState } from 'react';
import type { ReactNode } from 'react';
import type { Project, StoredEnvironment } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { FieldError, FormErrorNote, fieldErrors, invalidProps } from '../../lib/field-errors.js';
import { useAsync } from '../../lib/use-async.js';
import { AsyncView, Badge, Confirm, Dialog, Empty, FormError, ResultMessage, VisuallyHidden } from '../../lib/ui.js';
import { pendingProps, usePermission } from '../../lib/permissions.js';
import { NEW_ENVIRONMENT_COLOR, duplicateKey, environmentBody, environmentDraft, failure, isGone, isStale, validateEnvironment } from './projects-model.js';
import type { EnvironmentDraft, EnvironmentField } from './projects-model.js';
import { KeyAndNameFields } from './project-forms.js';

const SHOWN: readonly EnvironmentField[] = ['key', 'name', 'color'];

/** An environment's colour as the top bar and lists show it: a swatch and its hex value. */
function Swatch({ color }: { color: string | undefined }): ReactNode {
  if (color === undefined) {
    return <span className="muted small">none</span>;
  }
  return (
    <>
      <span
        aria-hidden="true"
        style={{ display: 'inline-block', width: '1em', height: '1em', verticalAlign: 'middle', borderRadius: '3px', border: '1px solid var(--control-border)', background: color }}
      />{' '}
      <code>{color}</code>
    </>
  );
}

/**
 * Adds an environment to `project` or replaces `original` (name, colour, protection; the key stays)
 * from the version it was opened at (If-Match). When someone else changed it since (409, 412), the
 * form says so and loads their version, and `onConflict` reloads the list.
 */
function EnvironmentFormDialog({ project, original: opened, onClose, onSaved, onConflict }: { project: string; original?: StoredEnvironment; onClose: () => void; onSaved: (environment: StoredEnvironment) => void; onConflict: () => void }): ReactNode {
  const { client } = useSession();
  const id = useId();
  const [original, setOriginal] = useState(opened);
  const creating = original === undefined;
  const [draft, setDraft] = useState<EnvironmentDraft>(() => environmentDraft(original));
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [reloaded, setReloaded] = useState<string | null>(null);
  const local = tried ? validateEnvironment(draft, creating) : {};
  const remote = fieldErrors(error);
  const message = (field: EnvironmentField): string | undefined => local[field] ?? remote.get(field) ?? (field === 'key' ? duplicateKey(error) : undefined);
  const update = (change: Partial<EnvironmentDraft>): void => {
    setDraft((d) => ({ ...d, ...change }));
  };

  const loadTheirs = async (key: string): Promise<void> => {
    try {
      const current = (await client.environments(project)).find((e) => e.key === key);
      if (current === undefined) {
        setError(null);
        setReloaded(`Someone else deleted environment ${key} since you opened it.`);
        return;
      }
      setOriginal(current);
      setDraft(environmentDraft(current));
      setTried(false);
      setError(null);
      setReloaded(`Someone else changed environment ${key} since you opened it. The form now shows their version: check it, make your change again and save.`);
    } catch (e) {
      setError(e);
    }
  };

  const submit = async (): Promise<void> => {
    setTried(true);
    if (Object.keys(validateEnvironment(draft, creating)).length > 0) {
      return;
    }
    setError(null);
    setReloaded(null);
    setBusy(true);
    try {
      const body = environmentBody(draft, original);
      onSaved(original === undefined ? await client.createEnvironment(project, body) : await client.updateEnvironment(project, original.key, body, original.version));
    } catch (e) {
      if (original !== undefined && isGone(e)) {
        onConflict();
        setError(null);
        setReloaded(`Someone else deleted environment ${original.key} since you opened it.`);
      } else if (original !== undefined && isStale(e)) {
        onConflict();
        await loadTheirs(original.key);
      } else {
        setError(e);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title={original === undefined ? `New environment in ${project}` : `Edit environment ${original.key}`} onClose={onClose}>
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <KeyAndNameFields
          id={id}
          fixedKey={original?.key}
          keyValue={draft.key}
          name={draft.name}
          keyPlaceholder="e.g. qa"
          namePlaceholder="e.g. QA"
          keyHelp={'Letters, digits, "_", "." and "-"; SDK keys and flag targeting name the environment by it, and it cannot be changed later.'}
          message={message}
          onChange={update}
        />
        <label>
          Colour
          <input type="color" value={draft.color ?? NEW_ENVIRONMENT_COLOR} onChange={(e) => { update({ color: e.target.value }); }} {...invalidProps(`${id}-color-error`, message('color'))} />
        </label>
        <FieldError id={`${id}-color-error`} message={message('color')} />
        {draft.color === undefined ? <p className="small muted">This environment has no colour yet; pick one to give it one.</p> : null}
        <label className="check">
          <input type="checkbox" checked={draft.production} aria-describedby={`${id}-production-help`} onChange={(e) => { update({ production: e.target.checked }); }} /> Production
        </label>
        <span id={`${id}-production-help`} className="small muted">
          Protected: editors' changes need an approved change request. A production environment cannot be deleted.
        </span>
        <label className="check">
          <input type="checkbox" checked={draft.requireApproval} aria-describedby={`${id}-approval-help`} onChange={(e) => { update({ requireApproval: e.target.checked }); }} /> Requires approval
        </label>
        <span id={`${id}-approval-help`} className="small muted">
          Protected without being production: editors' changes need an approved change request.
        </span>
        <label className="check">
          <input
            type="checkbox"
            checked={draft.editorsMayTurnOff}
            disabled={!draft.production && !draft.requireApproval}
            aria-describedby={`${id}-turn-off-help`}
            onChange={(e) => { update({ editorsMayTurnOff: e.target.checked }); }}
          />{' '}
          Editors may turn flags off
        </label>
        <span id={`${id}-turn-off-help`} className="small muted">
          An emergency off switch for on-call: editors may turn a flag off here at once (the flag's switch, xp flags off), without waiting for an approval; the audit log
          marks each such change as having bypassed approval. Turning flags on, rules and rollouts still need an approved change request.
          {!draft.production && !draft.requireApproval ? ' Only for a protected environment: editors change an unprotected one directly anyway.' : ''}
        </span>
        <FormError message={reloaded} />
        {duplicateKey(error) === undefined ? <FormErrorNote error={error} shown={SHOWN} /> : null}
        <div className="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" {...pendingProps(busy)}>
            {original === undefined ? 'Add environment' : 'Save changes'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/**
 * A project's environments, in order: key, name, colour, production, requires approval. Roles
 * holding `environments:manage` add, edit and delete them (each from the version listed); the API's
 * refusals are shown as it words them. `onChanged` follows every change (the top bar's environments).
 */
export function Environments({ project, onChanged }: { project: Project; onChanged: () => void }): ReactNode {
  const { client, refreshTick } = useSession();
  // The project shown may not be the current one: the role in it decides (a project role may differ).
  const manage = usePermission('environments:manage', { project: project.key });
  const environments = useAsync(async () => (await client.environments(project.key)).sort((a, b) => a.position - b.position), [client, project.key], { refreshKey: refreshTick });
  const [editing, setEditing] = useState<StoredEnvironment | 'new' | null>(null);
  const [deleting, setDeleting] = useState<StoredEnvironment | null>(null);
  const [result, setResult] = useState<{ readonly tone: 'good' | 'bad'; readonly text: string } | null>(null);
  const changed = (): void => {
    environments.reload();
    onChanged();
  };
  const headingId = useId();

  return (
    <section aria-labelledby={headingId}>
      <div className="page-head">
        <h2 id={headingId}>Environments of {project.name}</h2>
        {manage.allowed ? (
          <button type="button" className="primary" onClick={() => { setEditing('new'); }}>
            New environment
          </button>
        ) : null}
      </div>
      <p className="muted small">
        In order, as the top bar lists them. Each has its own flag states and SDK keys; production environments and those requiring approval are protected.
      </p>
      {manage.reason === undefined ? null : <p className="muted">{manage.reason}: owners and admins do. The list is read-only.</p>}
      <ResultMessage message={result} />
      <AsyncView state={environments.state} onRetry={environments.reload}>
        {(list) =>
          list.length === 0 ? (
            <Empty>No environments in {project.key}.</Empty>
          ) : (
            <table aria-label={`Environments of ${project.key}`}>
              <thead>
                <tr>
                  <th>Key</th>
                  <th>Name</th>
                  <th>Colour</th>
                  <th>Production</th>
                  <th>Requires approval</th>
                  {manage.allowed ? <th><VisuallyHidden>Actions</VisuallyHidden></th> : null}
                </tr>
              </thead>
              <tbody>
                {list.map((env) => (
                  <tr key={env.key}>
                    <td>
                      <code>{env.key}</code>
                    </td>
                    <td>{env.name}</td>
                    <td>
                      <Swatch color={env.color} />
                    </td>
                    <td>{env.production ? <Badge tone="warn">production</Badge> : 'no'}</td>
                    <td>
                      {env.requireApproval ? <Badge tone="info">requires approval</Badge> : 'no'}
                      {env.editorsMayTurnOff === true && (env.production || env.requireApproval) ? (
                        <>
                          {' '}
                          <Badge tone="info">editors may turn flags off</Badge>
                        </>
                      ) : null}
                    </td>
                    {manage.allowed ? (
                      <td>
                        <button type="button" aria-label={`Edit ${env.key}`} onClick={() => { setEditing(env); }}>
                          Edit
                        </button>{' '}
                        <button type="button" className="danger" aria-label={`Delete ${env.key}`} onClick={() => { setDeleting(env); }}>
                          Delete
                        </button>
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </AsyncView>
      {editing === null ? null : (
        <EnvironmentFormDialog
          project={project.key}
          {...(editing === 'new' ? {} : { original: editing })}
          onClose={() => { setEditing(null); }}
          onConflict={environments.reload}
          onSaved={(saved) => {
            setEditing(null);
            setResult({ tone: 'good', text: editing === 'new' ? `Added environment ${saved.name} (${saved.key}).` : `Saved environment ${saved.name} (${saved.key}).` });
            changed();
          }}
        />
      )}
      {deleting === null ? null : (
        <Confirm
          title={`Delete environment ${deleting.key}?`}
          message={
            <p>
              {deleting.name} and its flag states go, and its SDK keys stop working at once. This cannot be undone. The platform refuses to delete a production environment or
              one where flags are on.
            </p>
          }
          confirmLabel="Delete environment"
          onCancel={() => { setDeleting(null); }}
          onConfirm={() => {
            const { key, name, version } = deleting;
            setDeleting(null);
            setResult(null);
            client.deleteEnvironment(project.key, key, version).then(
              () => {
                setResult({ tone: 'good', text: `Deleted environment ${name} (${key}).` });
                changed();
              },
              (e: unknown) => {
                setResult({ tone: 'bad', text: failure(`Could not delete ${name}`, e) });
                environments.reload();
              },
            );
          }}
        />
      )}
    </section>
  );
}
