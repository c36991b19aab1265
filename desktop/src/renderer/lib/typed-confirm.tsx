import { useId, useState } from 'react';
import type { ReactNode } from 'react';
import { pendingProps } from './permissions.js';
import { Dialog } from './ui.js';

/**
 * The dialog of an action that cannot be undone (deleting a project, erasing a unit's data): its
 * button is enabled once `expected` (the project key, the unit id) is typed, and `run` does it. A
 * refusal stays in the dialog, shown by `renderError`.
 */
export function TypedConfirmDialog({
  title,
  expected,
  what,
  confirmLabel,
  children,
  run,
  renderError,
  onClose,
}: {
  title: string;
  expected: string;
  /** What is typed, for the field's label and help: "project key", "unit id". */
  what: string;
  confirmLabel: string;
  /** What the action does, above the field. */
  children: ReactNode;
  run: () => Promise<void>;
  renderError: (error: unknown) => ReactNode;
  onClose: () => void;
}): ReactNode {
  const id = useId();
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  // As typed, or without the spaces a paste brings around it (an id may itself end in a space).
  const confirmed = typed === expected || typed.trim() === expected;

  const submit = async (): Promise<void> => {
    if (!confirmed) {
      return;
    }
    setError(null);
    setBusy(true);
    try {
      await run();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title={title} onClose={onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        {children}
        <label>
          Type the {what}, {expected}, to confirm
          <input value={typed} autoComplete="off" spellCheck={false} aria-describedby={`${id}-help`} onChange={(e) => { setTyped(e.target.value); }} />
        </label>
        <span id={`${id}-help`} className="small muted">
          The {confirmLabel} button is enabled once it matches.
        </span>
        {error === null ? null : renderError(error)}
        <div className="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={!confirmed} {...pendingProps(busy)}>
            {confirmLabel}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
