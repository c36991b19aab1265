import '../../test/dom.js';
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { CodeBlock, ScrollRegion } from '../ui.js';

/** jsdom lays nothing out: each box reports the sizes given here. */
function layOut(scrollWidth: number, clientWidth: number): void {
  Object.defineProperty(HTMLElement.prototype, 'scrollWidth', { configurable: true, get: () => scrollWidth });
  Object.defineProperty(HTMLElement.prototype, 'clientWidth', { configurable: true, get: () => clientWidth });
}

afterEach(() => {
  cleanup();
  delete (HTMLElement.prototype as { scrollWidth?: number }).scrollWidth;
  delete (HTMLElement.prototype as { clientWidth?: number }).clientWidth;
});

describe('scrolling boxes', () => {
  it('are named regions that join the Tab order only while their content overflows them', () => {
    layOut(900, 300);
    render(
      <>
        <ScrollRegion label="Evaluation results">
          <table aria-label="Evaluation by environment" />
        </ScrollRegion>
        <CodeBlock label="Payload">{'{ "event": "flag.updated" }'}</CodeBlock>
      </>,
    );
    expect(screen.getByRole('region', { name: 'Evaluation results' }).tabIndex).toBe(0);
    expect(screen.getByRole('region', { name: 'Payload' }).tabIndex).toBe(0);
    cleanup();

    layOut(300, 300);
    render(<ScrollRegion label="Evaluation results">fits</ScrollRegion>);
    expect(screen.getByRole('region', { name: 'Evaluation results' }).hasAttribute('tabindex')).toBe(false);
  });
});
