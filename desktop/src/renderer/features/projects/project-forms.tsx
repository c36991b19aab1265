import { useId, useState } from 'react';
import type { ReactNode } from 'react';
import type { Project } from '@xp/shared';
import { useSession } from '../../app/session.js';
import { routeHash } from '../../app/router.js';
import { FieldError, FormErrorNote, fieldErrors, invalidProps } from '../../lib/field-errors.js';
import { Dialog, ErrorNote, FormError } from '../../lib/ui.js';
import { pendingProps } from '../../lib/permissions.js';
import { TypedConfirmDialog } from '../../lib/typed-confirm.js';
import { deleteRefusal, duplicateKey, failure, isGone, isStale, projectDraft, projectPatch, validateProject } from './projects-model.js';
import type { DeleteRefusal, ProjectDraft, ProjectField } from './projects-model.js';

const SHOWN: readonly ProjectField[] = ['key', 'name', 'description'];

/**
 * Creates a project (the API gives it development, staging and a protected production) or renames
 * and describes `original`, from the version it was opened at (If-Match). When someone else changed
 * the project since (409, 412), the form says so and loads their version, and `onConflict` reloads
 * the screen.
 */
export function ProjectFormDialog({ original: opened, onClose, onSaved, onConflict }: { original?: Project; onClose: () => void; onSaved: (project: Project) => void; onConflict?: () => void }): ReactNode {
  const { client } = useSession();
  const id = useId();
  const [original, setOriginal] = useState(opened);
  const creating = original === undefined;
  const [draft, setDraft] = useState<ProjectDraft>(() => projectDraft(original));
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  /** Said after a conflict, once their version is in the form. */
  const [reloaded, setReloaded] = useState<string | null>(null);
  const local = tried ? validateProject(draft, creating) : {};
  const remote = fieldErrors(error);
  const message = (field: ProjectField): string | undefined => local[field] ?? remote.get(field) ?? (field === 'key' ? duplicateKey(error) : undefined);
  const patch = original === undefined ? null : projectPatch(original, draft);
  const unchanged = patch !== null && Object.keys(patch).length === 0;
  const update = (change: Partial<ProjectDraft>): void => {
    setDraft((d) => ({ ...d, ...change }));
  };

  /** After a conflict: their version in the form, with what happened. */
  const loadTheirs = async (key: string): Promise<void> => {
    try {
      const current = (await client.projects()).find((p) => p.key === key);
      if (current === undefined) {
        setError(null);
        setReloaded(`Someone else deleted project ${key} since you opened it.`);
        return;
      }
      setOriginal(current);
      setDraft(projectDraft(current));
      setTried(false);
      setError(null);
      setReloaded(`Someone else changed project ${key} since you opened it. The form now shows their version: check it, make your change again and save.`);
    } catch (e) {
      setError(e);
    }
  };

  const submit = async (): Promise<void> => {
    setTried(true);
    if (Object.keys(validateProject(draft, creating)).length > 0 || unchanged) {
      return;
    }
    setError(null);
    setReloaded(null);
    setBusy(true);
    try {
      if (original === undefined) {
        const description = draft.description.trim();
        onSaved(await client.createProject({ key: draft.key.trim(), name: draft.name.trim(), ...(description === '' ? {} : { description }) }));
      } else if (patch !== null) {
        onSaved(await client.updateProject(original.key, patch, original.version));
      }
    } catch (e) {
      if (original !== undefined && isGone(e)) {
        onConflict?.();
        setError(null);
        setReloaded(`Someone else deleted project ${original.key} since you opened it.`);
      } else if (original !== undefined && isStale(e)) {
        onConflict?.();
        await loadTheirs(original.key);
      } else {
        setError(e);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title={original === undefined ? 'New project' : `Edit project ${original.key}`} onClose={onClose}>
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
          keyPlaceholder="e.g. web-shop"
          namePlaceholder="e.g. Web shop"
          keyHelp={'Letters, digits, "_", "." and "-". SDK keys, the CLI and links name the project by it; it cannot be changed later.'}
          message={message}
          onChange={update}
        />
        <label>
          Description (optional)
          <textarea value={draft.description} maxLength={2000} rows={3} onChange={(e) => { update({ description: e.target.value }); }} {...invalidProps(`${id}-description-error`, message('description'))} />
        </label>
        <FieldError id={`${id}-description-error`} message={message('description')} />
        {original === undefined ? (
          <p className="small muted">
            The project starts with three environments: Development, Staging and Production, which is protected (editors' changes there need an approved change request). Change
            them afterwards on this screen.
          </p>
        ) : null}
        <FormError message={reloaded} />
        {duplicateKey(error) === undefined ? <FormErrorNote error={error} shown={SHOWN} /> : null}
        <div className="actions">
          {unchanged ? <span className="small muted">Nothing changed yet.</span> : null}
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" {...pendingProps(busy || unchanged)}>
            {original === undefined ? 'Create project' : 'Save changes'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** The flags and experiments that keep a project from being deleted; linked when they belong to the project the console shows. */
function RefusalNote({ refusal, linked }: { refusal: DeleteRefusal; linked: boolean }): ReactNode {
  return (
    <div className="state state-error" role="alert">
      <p>{refusal.message}</p>
      {refusal.flags.length === 0 ? null : (
        <>
          <p>Flags on in production (turn them off first):</p>
          <ul aria-label="Flags on in production">
            {refusal.flags.map((f) => (
              <li key={`${f.key}:${f.environment}`}>
                {linked ? <a href={routeHash({ screen: 'flag', key: f.key })}>{f.key}</a> : <code>{f.key}</code>} in {f.environment}
              </li>
            ))}
          </ul>
        </>
      )}
      {refusal.experiments.length === 0 ? null : (
        <>
          <p>Running experiments (stop them first):</p>
          <ul aria-label="Running experiments">
            {refusal.experiments.map((key) => (
              <li key={key}>{linked ? <a href={routeHash({ screen: 'experiment', key })}>{key}</a> : <code>{key}</code>}</li>
            ))}
          </ul>
        </>
      )}
      {linked || (refusal.flags.length === 0 && refusal.experiments.length === 0) ? null : <p className="small">Switch to the project to open them.</p>}
    </div>
  );
}

/**
 * Deletes `project` once its key is typed, from the version listed (If-Match). A refusal stays in
 * the dialog: what keeps the project (flags on in production, running experiments) or, when it
 * changed meanwhile, that it did (`onStale` reloads the list, and with it the version sent next).
 */
export function DeleteProjectDialog({ project, isCurrent, onClose, onDeleted, onStale }: { project: Project; isCurrent: boolean; onClose: () => void; onDeleted: () => void; onStale: () => void }): ReactNode {
  const { client } = useSession();
  return (
    <TypedConfirmDialog
      title={`Delete project ${project.key}?`}
      expected={project.key}
      what="project key"
      confirmLabel="Delete project"
      onClose={onClose}
      run={async () => {
        try {
          await client.deleteProject(project.key, project.version);
        } catch (e) {
          if (isStale(e)) {
            onStale();
          }
          throw e;
        }
        onDeleted();
      }}
      renderError={(error) => {
        const refusal = deleteRefusal(error);
        return refusal !== null ? (
          <RefusalNote refusal={refusal} linked={isCurrent} />
        ) : isStale(error) ? (
          <FormError message={failure(`Could not delete ${project.key}`, error)} />
        ) : (
          <ErrorNote error={error} />
        );
      }}
    >
      <p>
        {project.name} goes with everything in it: flags, experiments, segments, metrics, environments, SDK keys (SDKs using them are refused), webhooks, change requests and
        collected events. The audit log keeps its history. This cannot be undone.
      </p>
      <p className="small muted">The platform refuses while a flag is on in a production environment or an experiment is running.</p>
    </TypedConfirmDialog>
  );
}

/**
 * The key (new: an input with its rules; existing: shown, as keys never change) and the name of a
 * project or environment form, with their field errors.
 */
export function KeyAndNameFields({ id, fixedKey, keyValue, name, keyPlaceholder, namePlaceholder, keyHelp, message, onChange }: {
  id: string;
  fixedKey: string | undefined;
  keyValue: string;
  name: string;
  keyPlaceholder: string;
  namePlaceholder: string;
  keyHelp: string;
  message: (field: 'key' | 'name') => string | undefined;
  onChange: (patch: { key?: string; name?: string }) => void;
}): ReactNode {
  return (
    <>
      {fixedKey === undefined ? (
        <>
          <label>
            Key
            <input
              value={keyValue}
              maxLength={128}
              autoComplete="off"
              spellCheck={false}
              placeholder={keyPlaceholder}
              onChange={(e) => { onChange({ key: e.target.value }); }}
              {...invalidProps(`${id}-key-error`, message('key'))}
              aria-describedby={message('key') === undefined ? `${id}-key-help` : `${id}-key-error ${id}-key-help`}
            />
          </label>
          <FieldError id={`${id}-key-error`} message={message('key')} />
          <span id={`${id}-key-help`} className="small muted">
            {keyHelp}
          </span>
        </>
      ) : (
        <p>
          Key <code>{fixedKey}</code> <span className="small muted">(cannot be changed)</span>
        </p>
      )}
      <label>
        Name
        <input value={name} maxLength={200} placeholder={namePlaceholder} onChange={(e) => { onChange({ name: e.target.value }); }} {...invalidProps(`${id}-name-error`, message('name'))} />
      </label>
      <FieldError id={`${id}-name-error`} message={message('name')} />
    </>
  );
}
