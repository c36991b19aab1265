import '../../test/dom.js';
import { afterEach, describe, expect, it } from 'vitest';
import { focusScreenHeading } from '../screen-focus.js';

/** Lets the MutationObserver's callbacks run. */
const observed = (): Promise<void> => new Promise((resolve) => { setTimeout(resolve, 0); });

function shell(): { main: HTMLElement; link: HTMLAnchorElement } {
  document.body.innerHTML = '<nav><a href="#/segments">Segments</a></nav><main id="main" tabindex="-1"><p class="state-loading">Loading…</p></main><input aria-label="Elsewhere">';
  return { main: document.querySelector('main')!, link: document.querySelector('a')! };
}

function showHeading(main: HTMLElement, text: string): HTMLHeadingElement {
  const h1 = document.createElement('h1');
  h1.textContent = text;
  main.replaceChildren(h1);
  return h1;
}

let stop: (() => void) | undefined;

afterEach(() => {
  stop?.();
  document.body.innerHTML = '';
});

describe('focusScreenHeading', () => {
  it("waits for the screen's heading, makes it focusable and gives it the focus from the link followed", async () => {
    const { main, link } = shell();
    link.focus();
    stop = focusScreenHeading(main);
    expect(document.activeElement).toBe(link);

    const heading = showHeading(main, 'Segments');
    await observed();

    expect(document.activeElement).toBe(heading);
    expect(heading.getAttribute('tabindex')).toBe('-1');
  });

  it('hands the focus on to the heading that replaces the one it gave it to (another flag loading)', async () => {
    const { main, link } = shell();
    showHeading(main, 'Old flag');
    link.focus();
    stop = focusScreenHeading(main);
    main.replaceChildren();
    await observed();

    const next = showHeading(main, 'New flag');
    await observed();

    expect(document.activeElement).toBe(next);
  });

  it('leaves the focus where the user moved it while the screen loaded', async () => {
    const { main, link } = shell();
    link.focus();
    stop = focusScreenHeading(main);
    const elsewhere = document.querySelector('input')!;
    elsewhere.focus();

    showHeading(main, 'Segments');
    await observed();

    expect(document.activeElement).toBe(elsewhere);
  });

  it('stops waiting at a key press, and after the time given', async () => {
    const pressed = shell();
    pressed.link.focus();
    stop = focusScreenHeading(pressed.main);
    window.dispatchEvent(new KeyboardEvent('keydown', { key: 'Tab' }));
    showHeading(pressed.main, 'Segments');
    await observed();
    expect(document.activeElement).toBe(pressed.link);

    const late = shell();
    late.link.focus();
    stop = focusScreenHeading(late.main, 0);
    await observed();
    showHeading(late.main, 'Segments');
    await observed();
    expect(document.activeElement).toBe(late.link);
  });
});
