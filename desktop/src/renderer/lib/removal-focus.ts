import { useCallback, useLayoutEffect, useRef } from 'react';

/** Where the focus goes when an item of a numbered list is removed (see useRemovalFocus). */
export interface Removal {
  /** The element holding the list's controls and its add button (closest to the pressed button). */
  readonly root: Element | null;
  /** The accessible name of an item's remove control by its number (from 1): `(n) => \`Remove condition ${n}\``. */
  readonly label: (n: number) => string;
  /** The removed item's index (from 0). */
  readonly index: number;
  /** How many items are left. */
  readonly remaining: number;
  /** The text of the button that adds an item, focused when none is left. */
  readonly add: string;
}

/** The control that takes the focus after `removal`: the next item's remove control, else the previous one's, else the add button. */
export function removalTarget({ root, label, index, remaining, add }: Removal): HTMLElement | null {
  if (root === null) {
    return null;
  }
  const buttons = [...root.querySelectorAll<HTMLElement>('button')];
  // After the removal the next item has the removed one's number (index + 1); the previous keeps index.
  const wanted = index < remaining ? label(index + 1) : remaining > 0 ? label(index) : null;
  const same = wanted === null ? undefined : buttons.find((b) => b.getAttribute('aria-label') === wanted);
  return same ?? buttons.find((b) => b.textContent.trim() === add) ?? null;
}

/**
 * Keeps the keyboard focus when a list item is removed (WCAG 2.4.3): its remove button leaves the
 * page with it, which would drop the focus to the page. Call the returned function in the remove
 * handler; once the removal is rendered, the focus moves to the next item's remove control, else
 * the previous item's, else the list's add button.
 */
export function useRemovalFocus(): (removal: Removal) => void {
  const pending = useRef<Removal | null>(null);
  useLayoutEffect(() => {
    const removal = pending.current;
    if (removal === null) {
      return;
    }
    pending.current = null;
    removalTarget(removal)?.focus();
  });
  return useCallback((removal: Removal) => {
    pending.current = removal;
  }, []);
}
