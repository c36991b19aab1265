import { useState } from 'react';
import type { ReactNode } from 'react';
import type { DefinitionKinds, DefinitionPath, Stored } from '@xp/shared';
import { useSession } from '../app/session.js';
import { fieldErrors } from './field-errors.js';
import { isConflict } from './ui.js';
import { useAsync } from './use-async.js';
import type { AsyncState } from './use-async.js';

/**
 * What the segment and metric screens share: a list with delete, and a form that creates a
 * definition or replaces it from the version it was opened at (If-Match), offering the other
 * writer's version after a 409.
 */

export interface DefinitionForm<D> {
  /** The stored version being edited; undefined for a new definition. */
  readonly base: Stored<unknown> | undefined;
  readonly draft: D;
  readonly set: (patch: Partial<D>) => void;
  readonly error: unknown;
  /** API validation messages by field path. */
  readonly fields: ReadonlyMap<string, string>;
  /** The last save lost to another writer (409). */
  readonly conflict: boolean;
  readonly save: (definition: Record<string, unknown>) => Promise<void>;
  /** Loads the current stored version into the form (after a conflict). */
  readonly reload: () => Promise<void>;
  readonly clearError: () => void;
}

export function useDefinitionForm<K extends DefinitionPath, D>(
  kind: K,
  existing: Stored<DefinitionKinds[K]> | undefined,
  draftOf: (stored: Stored<DefinitionKinds[K]> | undefined) => D,
  onSaved: () => void,
): DefinitionForm<D> & { readonly base: Stored<DefinitionKinds[K]> | undefined } {
  const { client, project } = useSession();
  const [base, setBase] = useState(existing);
  const [draft, setDraft] = useState<D>(() => draftOf(existing));
  const [error, setError] = useState<unknown>(null);
  return {
    base,
    draft,
    set: (patch) => {
      setDraft((d) => ({ ...d, ...patch }));
    },
    error,
    fields: fieldErrors(error),
    conflict: isConflict(error),
    clearError: () => {
      setError(null);
    },
    save: async (definition) => {
      setError(null);
      try {
        if (base === undefined) {
          await client.create(project, kind, definition);
        } else {
          await client.replace(project, kind, base.key, definition, base.version);
        }
        onSaved();
      } catch (e) {
        setError(e);
      }
    },
    reload: async () => {
      if (base === undefined) {
        return;
      }
      try {
        const latest = await client.get(project, kind, base.key);
        setBase(latest);
        setDraft(draftOf(latest));
        setError(null);
      } catch (e) {
        setError(e);
      }
    },
  };
}

/** The form's buttons: reload after a conflict, cancel, create or save. */
export function FormActions({ form, noun, onClose, onSubmit }: { form: Pick<DefinitionForm<unknown>, 'base' | 'conflict' | 'reload'>; noun: string; onClose: () => void; onSubmit: () => void }): ReactNode {
  return (
    <div className="actions">
      {form.conflict ? (
        <button type="button" onClick={() => void form.reload()}>
          Reload their version
        </button>
      ) : null}
      <button type="button" onClick={onClose}>
        Cancel
      </button>
      <button type="button" className="primary" onClick={onSubmit}>
        {form.base === undefined ? `Create ${noun}` : `Save ${noun}`}
      </button>
    </div>
  );
}

export interface DefinitionList<T> {
  readonly state: AsyncState<Stored<T>[]>;
  readonly reload: () => void;
  readonly editing: Stored<T> | 'new' | null;
  readonly setEditing: (value: Stored<T> | 'new' | null) => void;
  readonly deleting: Stored<T> | null;
  readonly setDeleting: (value: Stored<T> | null) => void;
  readonly deleteError: unknown;
  readonly remove: (item: Stored<T>) => Promise<void>;
}

/** A project's definitions of one kind, refreshed with the session, with edit and delete state. */
export function useDefinitionList<K extends DefinitionPath>(kind: K): DefinitionList<DefinitionKinds[K]> {
  const { client, project, refreshTick } = useSession();
  const { state, reload } = useAsync(() => client.listAll(project, kind), [client, project], { refreshKey: refreshTick });
  const [editing, setEditing] = useState<Stored<DefinitionKinds[K]> | 'new' | null>(null);
  const [deleting, setDeleting] = useState<Stored<DefinitionKinds[K]> | null>(null);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  return {
    state,
    reload,
    editing,
    setEditing,
    deleting,
    setDeleting,
    deleteError,
    remove: async (item) => {
      setDeleting(null);
      setDeleteError(null);
      try {
        await client.remove(project, kind, item.key, item.version);
      } catch (e) {
        setDeleteError(e);
      }
      reload();
    },
  };
}
