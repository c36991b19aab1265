import { createContext, useContext, useEffect, useId, useLayoutEffect, useRef, useState } from 'react';
import type { KeyboardEvent, ReactNode, RefObject } from 'react';
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

/**
 * The "Live refresh failed" messages an enclosing AsyncView already shows: a nested one (the
 * results inside the experiment page) does not repeat the same warning when the API is down.
 */
const RefreshWarningsShown = createContext<readonly string[]>([]);

/** Renders loading, error or the data of an async state. */
export function AsyncView<T>({ state, onRetry, children }: { state: AsyncState<T>; onRetry?: () => void; children: (data: T) => ReactNode }): ReactNode {
  const shown = useContext(RefreshWarningsShown);
  if (state.status === 'loading') {
    return <Loading />;
  }
  if (state.status === 'error') {
    return <ErrorNote error={state.error} {...(onRetry === undefined ? {} : { onRetry })} />;
  }
  const warning = state.refreshError === null ? null : `Live refresh failed (${errorMessage(state.refreshError)}); showing the last data.`;
  const repeated = warning !== null && shown.includes(warning);
  // The same tree whether or not a warning shows: the children keep their state when the API comes and goes.
  return (
    <>
      {warning === null || repeated ? null : (
        <p className="banner banner-warn" role="status">
          {warning}
        </p>
      )}
      <RefreshWarningsShown.Provider value={warning === null || repeated ? shown : [...shown, warning]}>{children(state.data)}</RefreshWarningsShown.Provider>
    </>
  );
}

/** What Tab stops at, before filtering out what is disabled or not rendered. */
const TABBABLE = 'a[href], button, input, select, textarea, [tabindex]';

/** The elements of `root` that Tab reaches, in document order. */
export function tabbables(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>(TABBABLE)].filter(
    (el) =>
      el.tabIndex >= 0 &&
      !el.matches(':disabled') &&
      !(el instanceof HTMLInputElement && (el.type === 'hidden' || !radioTabStop(el))) &&
      el.closest('[hidden], [inert]') === null &&
      (typeof el.checkVisibility !== 'function' || el.checkVisibility()),
  );
}

/** Tab stops at one radio of a group: the checked one, or the first when none is. */
function radioTabStop(el: HTMLInputElement): boolean {
  if (el.type !== 'radio' || el.name === '' || el.form === null) {
    return true;
  }
  const group = [...el.form.elements].filter((x): x is HTMLInputElement => x instanceof HTMLInputElement && x.type === 'radio' && x.name === el.name);
  return group.some((x) => x.checked) ? el.checked : group[0] === el;
}

/**
 * A modal dialog: focus moves in, Tab and Shift+Tab cycle inside it, Escape cancels, the rest of
 * the page is inert while open, and closing gives the focus back to the control that opened it.
 */
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
    // Its first field or button, as showModal does; a link in the text before them only if there is none.
    const stops = tabbables(el);
    (stops.find((x) => x.matches('input, select, textarea, button')) ?? stops[0] ?? el).focus();
    return () => {
      // An opener gone meanwhile (the row just deleted): the focus goes to the screen's content, not the page's start.
      (previous?.isConnected === true ? previous : document.getElementById('main'))?.focus();
    };
  }, []);
  /** Keeps Tab inside the dialog: past its last control back to the first, and the other way round. */
  const trapTab = (e: KeyboardEvent<HTMLDialogElement>): void => {
    const el = ref.current;
    if (el === null) {
      return;
    }
    const stops = tabbables(el);
    const first = stops[0];
    const last = stops.at(-1);
    if (first === undefined || last === undefined) {
      e.preventDefault();
      return;
    }
    const active = document.activeElement;
    if (e.shiftKey && (active === first || active === el || !el.contains(active))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (active === last || !el.contains(active))) {
      e.preventDefault();
      first.focus();
    }
  };
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby={titleId}
      aria-modal="true"
      tabIndex={-1}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          // A dialog opened from another closes alone.
          e.stopPropagation();
          onClose();
        } else if (e.key === 'Tab') {
          e.stopPropagation();
          trapTab(e);
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

export type BadgeTone = 'neutral' | 'good' | 'bad' | 'warn' | 'info';

export function Badge({ tone = 'neutral', children }: { tone?: BadgeTone; children: ReactNode }): ReactNode {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

/**
 * A badge whose meaning needs a sentence (why a flag is stale): a toggletip, not a `title`, so that
 * keyboard, touch and screen-reader users get it too. The badge is a button described by the
 * sentence (read with its name); pressing it, or pointing at it, shows the sentence beside it, and
 * Escape hides it again (WCAG 1.4.13).
 */
export function ExplainedBadge({ tone = 'neutral', label, children }: { tone?: BadgeTone; label: string; children: ReactNode }): ReactNode {
  const id = useId();
  const [pinned, setPinned] = useState(false);
  const [hovered, setHovered] = useState(false);
  const shown = pinned || hovered;
  return (
    <span
      className="explained-badge"
      onMouseEnter={() => { setHovered(true); }}
      onMouseLeave={() => { setHovered(false); }}
    >
      <button
        type="button"
        className={`badge badge-${tone} badge-button`}
        aria-expanded={shown}
        aria-describedby={id}
        onClick={() => { setPinned((p) => !p); }}
        onBlur={() => { setPinned(false); }}
        onKeyDown={(e) => {
          if (e.key === 'Escape' && shown) {
            // Only this tip closes, not a dialog around it.
            e.stopPropagation();
            setPinned(false);
            setHovered(false);
          }
        }}
      >
        {label}
      </button>
      {/* Always in the document: aria-describedby reads it while it is hidden from sight. */}
      <span id={id} className={shown ? 'badge-explanation' : 'visually-hidden'}>
        {children}
      </span>
    </span>
  );
}

/**
 * Where a screen says how an action it started ended (saved, turned on, proposed, failed). The
 * status region stays in the document while the screen is shown, so screen readers announce each
 * new message (one added together with its text often is not); a failure is an alert, which is
 * announced when it appears.
 */
export function ResultMessage({ message, children }: { message: { readonly tone: 'good' | 'bad' | 'info' | 'warn'; readonly text: string } | null; children?: ReactNode }): ReactNode {
  const failed = message?.tone === 'bad';
  const banner = message === null ? null : (
    <p className={`banner banner-${message.tone}`} {...(failed ? { role: 'alert' } : {})}>
      {message.text}
      {children}
    </p>
  );
  return (
    <>
      <div role="status">{failed ? null : banner}</div>
      {failed ? banner : null}
    </>
  );
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

/** Text for screen readers only: the name of a column of buttons, a symbol's meaning. */
export function VisuallyHidden({ children }: { children: ReactNode }): ReactNode {
  return <span className="visually-hidden">{children}</span>;
}

/**
 * 0 while `ref`'s content overflows it, so that keyboard users can focus it and scroll with the
 * arrow keys (WCAG 2.1.1); undefined otherwise, so a box that fits adds no Tab stop.
 */
export function useScrollableTabIndex(ref: RefObject<HTMLElement | null>): 0 | undefined {
  const [scrollable, setScrollable] = useState(false);
  const check = (): void => {
    const el = ref.current;
    if (el !== null) {
      setScrollable(el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1);
    }
  };
  // After every render: the content may have changed its size.
  useLayoutEffect(check);
  // And when the window or the layout around it resizes the box.
  useEffect(() => {
    const el = ref.current;
    if (el === null || typeof ResizeObserver === 'undefined') {
      return undefined;
    }
    const observer = new ResizeObserver(check);
    observer.observe(el);
    return () => {
      observer.disconnect();
    };
  }, [ref]);
  return scrollable ? 0 : undefined;
}

/** A box whose content (a wide table) may scroll sideways: named, and focusable while it scrolls. */
export function ScrollRegion({ label, children }: { label: string; children: ReactNode }): ReactNode {
  const ref = useRef<HTMLDivElement>(null);
  const tabIndex = useScrollableTabIndex(ref);
  return (
    <div ref={ref} className="scroll-region" role="region" aria-label={label} {...(tabIndex === undefined ? {} : { tabIndex })}>
      {children}
    </div>
  );
}

/** Preformatted text (JSON, a response body) in a box that scrolls past its height: named, and focusable while it scrolls. */
export function CodeBlock({ label, children }: { label: string; children: ReactNode }): ReactNode {
  const ref = useRef<HTMLPreElement>(null);
  const tabIndex = useScrollableTabIndex(ref);
  return (
    <pre ref={ref} role="region" aria-label={label} {...(tabIndex === undefined ? {} : { tabIndex })}>
      {children}
    </pre>
  );
}

/**
 * Tabs as the ARIA pattern has them: a tablist whose selected tab alone is in the Tab order, the
 * arrow keys, Home and End move between tabs, and the panel is labelled by its tab.
 */
export function Tabs<K extends string>({ label, tabs, selected, onSelect, children }: { label: string; tabs: readonly { readonly key: K; readonly label: string }[]; selected: K; onSelect: (key: K) => void; children: ReactNode }): ReactNode {
  const base = useId();
  const tabId = (key: K): string => `${base}-tab-${key}`;
  const panelId = `${base}-panel`;
  const move = (e: KeyboardEvent<HTMLDivElement>): void => {
    const at = tabs.findIndex((t) => t.key === selected);
    const to = e.key === 'ArrowRight' ? at + 1 : e.key === 'ArrowLeft' ? at - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? tabs.length - 1 : null;
    if (to === null) {
      return;
    }
    e.preventDefault();
    const next = tabs[(to + tabs.length) % tabs.length];
    if (next !== undefined) {
      onSelect(next.key);
      document.getElementById(tabId(next.key))?.focus();
    }
  };
  return (
    <>
      <div className="tabs" role="tablist" aria-label={label} onKeyDown={move}>
        {tabs.map((t) => (
          <button key={t.key} id={tabId(t.key)} type="button" role="tab" aria-selected={t.key === selected} aria-controls={panelId} tabIndex={t.key === selected ? 0 : -1} onClick={() => { onSelect(t.key); }}>
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={panelId} aria-labelledby={tabId(selected)}>
        {children}
      </div>
    </>
  );
}
