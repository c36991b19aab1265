import { useEffect, useId, useRef } from 'react';
import type { ReactNode } from 'react';
import { ApiError } from '@xp/shared';
import { allowanceProps } from './permissions.js';
import type { Allowance } from './permissions.js';
import type { AsyncState } from './use-async.js';

/**
 * A save lost to another writer (409 VERSION_CONFLICT): not a create whose key is taken (409
 * ALREADY_EXISTS) nor an action the resource's state refuses (409 INVALID_STATE: "the organisation
 * must keep at least one active owner"), which have no other version to reload and say why themselves.
 */
export function isConflict(error: unknown): boolean {
  return error instanceof ApiError && error.status === 409 && error.code === 'VERSION_CONFLICT';
}

/** A short, human message for an error; a conflict gets the wording the editors rely on. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (isConflict(error)) {
      return `Someone else changed this since you opened it (${error.message}). Reload to see their change, then apply yours again.`;
    }
    if (error.status === 401) {
      return 'Your session has expired. Sign in again.';
    }
    if (error.status === 403) {
      return `You do not have permission to do this: ${error.message}`;
    }
    return error.message;
  }
  if (error instanceof TypeError) {
    return 'The API cannot be reached. Check that the platform is running.';
  }
  return error instanceof Error ? error.message : String(error);
}

export function Loading({ label = 'Loading…' }: { label?: string }): ReactNode {
  return (
    <p className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label}
    </p>
  );
}

export function ErrorNote({ error, onRetry }: { error: unknown; onRetry?: () => void }): ReactNode {
  return (
    <div className="state state-error" role="alert">
      <p>{errorMessage(error)}</p>
      {onRetry === undefined ? null : (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** A form's problem in one line, announced to screen readers; nothing when there is none. `id`: for the aria-describedby of the fields it is about. */
export function FormError({ message, id }: { message: string | null | undefined; id?: string }): ReactNode {
  return message === null || message === undefined ? null : (
    <p className="state-error" role="alert" {...(id === undefined ? {} : { id })}>
      {message}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }): ReactNode {
  return <div className="state state-empty">{children}</div>;
}

/** Renders loading, error or the data of an async state. */
export function AsyncView<T>({ state, onRetry, children }: { state: AsyncState<T>; onRetry?: () => void; children: (data: T) => ReactNode }): ReactNode {
  if (state.status === 'loading') {
    return <Loading />;
  }
  if (state.status === 'error') {
    return <ErrorNote error={state.error} {...(onRetry === undefined ? {} : { onRetry })} />;
  }
  return (
    <>
      {state.refreshError === null ? null : (
        <p className="banner banner-warn" role="status">
          Live refresh failed ({errorMessage(state.refreshError)}); showing the last data.
        </p>
      )}
      {children(state.data)}
    </>
  );
}

/** A modal dialog: focus moves in, Escape cancels, the rest of the page is inert while open. */
export function Dialog({ title, children, onClose }: { title: string; children: ReactNode; onClose: () => void }): ReactNode {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const el = ref.current;
    if (el === null) {
      return undefined;
    }
    // Taken before showModal, which moves focus into the dialog: closing returns it to the opener.
    const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (typeof el.showModal === 'function' && !el.open) {
      el.showModal();
    } else {
      el.setAttribute('open', '');
    }
    el.querySelector<HTMLElement>('input, select, textarea, button')?.focus();
    return () => {
      previous?.focus();
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          onClose();
        }
      }}
    >
      <h2 id={titleId}>{title}</h2>
      {children}
    </dialog>
  );
}

/** A yes/no confirmation. */
export function Confirm({ title, message, confirmLabel, onConfirm, onCancel }: { title: string; message: ReactNode; confirmLabel: string; onConfirm: () => void; onCancel: () => void }): ReactNode {
  return (
    <Dialog title={title} onClose={onCancel}>
      <div>{message}</div>
      <div className="actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="primary" onClick={onConfirm}>
          {confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}

export function Badge({ tone = 'neutral', children }: { tone?: 'neutral' | 'good' | 'bad' | 'warn' | 'info'; children: ReactNode }): ReactNode {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

/**
 * A table row's Edit and Delete buttons, labelled with the row's key for screen readers and tests;
 * disabled, with the reason, when the role may not change the row (`allowance`).
 */
export function RowActions({ name, onEdit, onDelete, allowance = { allowed: true, reason: undefined } }: { name: string; onEdit: () => void; onDelete: () => void; allowance?: Allowance }): ReactNode {
  return (
    <>
      <button type="button" aria-label={`Edit ${name}`} {...allowanceProps(allowance)} onClick={onEdit}>
        Edit
      </button>{' '}
      <button type="button" aria-label={`Delete ${name}`} {...allowanceProps(allowance)} onClick={onDelete}>
        Delete
      </button>
    </>
  );
}
