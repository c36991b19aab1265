import { useEffect, useRef } from 'react';
import type { RefObject } from 'react';

/** How long a new screen's heading may take the focus after the change: the time its data may take to arrive. */
export const HEADING_WAIT_MS = 10_000;

/**
 * Gives the focus to the screen's h1 inside `root` (made focusable with tabindex=-1), now or as soon
 * as it appears: a heading that comes with the screen's data is awaited, and one replaced meanwhile
 * (another flag's page loading) hands the focus on to its successor. The focus is taken only from
 * where the change of screen left it (the link followed, the page, the old heading): a key or
 * pointer press, or `waitMs` passing, ends the wait. Returns the function that ends it.
 */
export function focusScreenHeading(root: HTMLElement, waitMs: number = HEADING_WAIT_MS): () => void {
  const doc = root.ownerDocument;
  const origin = doc.activeElement;
  const left = (el: Element | null): boolean => el === null || el === doc.body || el === root || el === origin || (el.tagName === 'H1' && root.contains(el));
  const take = (): void => {
    const heading = root.querySelector<HTMLElement>('h1');
    if (heading === null || heading === doc.activeElement || !left(doc.activeElement)) {
      return;
    }
    if (!heading.hasAttribute('tabindex')) {
      heading.tabIndex = -1;
    }
    heading.focus();
  };
  const observer = new MutationObserver(take);
  const view = doc.defaultView;
  const stop = (): void => {
    observer.disconnect();
    clearTimeout(timer);
    view?.removeEventListener('keydown', stop, true);
    view?.removeEventListener('pointerdown', stop, true);
  };
  const timer = setTimeout(stop, waitMs);
  observer.observe(root, { childList: true, subtree: true });
  view?.addEventListener('keydown', stop, true);
  view?.addEventListener('pointerdown', stop, true);
  take();
  return stop;
}

/**
 * On every change of `screen` after the first (client-side navigation, not the page's load), moves
 * the focus to the new screen's h1, as accessible single-page apps do: a screen reader reads the
 * screen's name, and the next Tab starts in its content rather than in the screen left behind.
 */
export function useScreenHeadingFocus(screen: string, root: RefObject<HTMLElement | null>): void {
  const shown = useRef(screen);
  useEffect(() => {
    const el = root.current;
    if (shown.current === screen || el === null) {
      return undefined;
    }
    shown.current = screen;
    return focusScreenHeading(el);
  }, [screen, root]);
}
