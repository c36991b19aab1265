import '../../../test/dom.js';
import { cleanup, render } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { labelColumn, SvgLabel, truncateLabel } from '../svg-label.js';

afterEach(cleanup);

describe('label column', () => {
  it('is as wide as its longest label, within its bounds, and cuts only what does not fit', () => {
    const short = labelColumn(['control', 'blue']);
    expect(short.width).toBeGreaterThanOrEqual(40);
    expect(short.width).toBeLessThan(110);
    expect(short.maxChars).toBeGreaterThanOrEqual('control'.length);

    const long = labelColumn(['control', 'a-very-long-variation-name-that-would-run-over-the-plot-area']);
    expect(long.width).toBe(180);
    expect(long.maxChars).toBeLessThan('a-very-long-variation-name-that-would-run-over-the-plot-area'.length);
    // What a label keeps fits the column before the plot.
    expect(long.maxChars * 11 * 0.62).toBeLessThanOrEqual(long.width);
  });

  it('cuts with an ellipsis, on whole characters', () => {
    expect(truncateLabel('treatment', 20)).toBe('treatment');
    expect(truncateLabel('treatment-with-a-long-name', 10)).toBe('treatment…');
    expect(Array.from(truncateLabel('treatment-with-a-long-name', 10))).toHaveLength(10);
    expect(truncateLabel('🙂🙂🙂🙂', 3)).toBe('🙂🙂…');
  });

  it('draws a cut label with its full text as its title, and a short one as it is', () => {
    const { container } = render(
      <svg>
        <SvgLabel x={4} y={10} text="a-very-long-variation-name" maxChars={10} />
        <SvgLabel x={4} y={30} text="control" maxChars={10} />
      </svg>,
    );
    const [cut, whole] = [...container.querySelectorAll('text')];
    expect(cut?.querySelector('title')?.textContent).toBe('a-very-long-variation-name');
    expect(cut?.lastChild?.textContent).toBe('a-very-lo…');
    expect(whole?.querySelector('title')).toBeNull();
    expect(whole?.textContent).toBe('control');
  });
});
