import '../../../test/dom.js';
import { readFileSync } from 'node:fs';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChartValue, SeriesConfig } from '../chart.js';
import { dodgeOffsets, PointTooltip, SERIES_COLORS, XpLineChart } from '../chart.js';

afterEach(cleanup);

/**
 * jsdom has no layout: recharts' ResponsiveContainer measures its box with a ResizeObserver and
 * draws nothing at width 0. This one reports a 600 × 260 box at once, so the chart's SVG renders.
 */
class FixedSizeObserver {
  constructor(private readonly callback: ResizeObserverCallback) {}
  observe(target: Element): void {
    this.callback([{ target, contentRect: { width: 600, height: 260 } } as unknown as ResizeObserverEntry], this);
  }
  unobserve(): void {}
  disconnect(): void {}
}

beforeAll(() => {
  (globalThis as { ResizeObserver?: unknown }).ResizeObserver = FixedSizeObserver;
});

const VARIATIONS = ['zeta', 'alpha', 'mid', 'beta', 'omega'];
const series: SeriesConfig<string>[] = VARIATIONS.map((v, i) => ({ key: v, label: v.toUpperCase(), color: SERIES_COLORS[i]!, bandKey: `${v} interval` }));

/** `points` rows where every variation has an effect and an interval. */
function rows(points: number): Record<string, ChartValue>[] {
  return Array.from({ length: points }, (_v, p) => Object.fromEntries([['x', `p${p}`], ...VARIATIONS.flatMap((v, i) => [[v, i / 10], [`${v} interval`, [i / 10 - 0.1, i / 10 + 0.1]]])]) as Record<string, ChartValue>);
}

function chart(points: number): HTMLElement {
  const { container } = render(<XpLineChart title="Cumulative effect of Revenue over time" data={rows(points)} series={series} formatY={(v) => v.toFixed(2)} reference={0} />);
  return container;
}

/** Elements Tab stops at: a tabIndex of 0 or more (what the tester counted in Chromium). */
const tabStops = (root: HTMLElement): Element[] => [...root.querySelectorAll('*')].filter((el) => (el as HTMLElement | SVGElement).tabIndex >= 0 && el.hasAttribute('tabindex'));

describe('line chart', () => {
  it.each([1, 2, 5])('is one named Tab stop, however many points (%i) and series it draws', async (points) => {
    const container = chart(points);
    expect(container.querySelector('svg.recharts-surface[role="group"]')).not.toBeNull();
    const stops = tabStops(container);
    expect(stops).toHaveLength(1);
    expect(stops[0]).toBe(screen.getByRole('group', { name: 'Cumulative effect of Revenue over time' }));
    // recharts' z-index layers are React portal containers, which React gives focus listeners:
    // Chromium (not jsdom) then makes each a Tab stop unless it says tabindex="-1".
    // (Marked as recharts adds them, through a MutationObserver: its callback runs just after.)
    const layers = [...container.querySelectorAll('g[class^="recharts-zIndex-layer_"]')];
    expect(layers.length).toBeGreaterThan(5);
    await waitFor(() => {
      expect(layers.filter((g) => g.getAttribute('tabindex') !== '-1').map((g) => g.getAttribute('class'))).toEqual([]);
    });
  });

  it('takes layers recharts adds later (the cursor\'s, on hover) out of the Tab order too', async () => {
    const container = chart(5);
    const plot = screen.getByRole('group', { name: 'Cumulative effect of Revenue over time' });
    plot.focus();
    fireEvent.keyDown(plot, { key: 'ArrowRight' });
    await screen.findByRole('tooltip');
    const layers = [...container.querySelectorAll('g[class^="recharts-zIndex-layer_"]')];
    await waitFor(() => {
      expect(layers.filter((g) => g.getAttribute('tabindex') !== '-1').map((g) => g.getAttribute('class'))).toEqual([]);
    });
    const added = document.createElementNS('http://www.w3.org/2000/svg', 'g');
    added.setAttribute('class', 'recharts-zIndex-layer_1500');
    plot.appendChild(added);
    await waitFor(() => {
      expect(added.getAttribute('tabindex')).toBe('-1');
    });
  });

  it.each([1, 2, 5])('shows a point\'s tooltip, headed by its label, when the arrow keys reach it (%i points)', async (points) => {
    chart(points);
    const plot = screen.getByRole('group', { name: 'Cumulative effect of Revenue over time' });
    plot.focus();
    fireEvent.keyDown(plot, { key: 'ArrowRight' });
    const tooltip = await screen.findByRole('tooltip');
    expect(tooltip.textContent).toMatch(/^p\d/);
    expect(tooltip.textContent).toContain('ZETA: 0.00 [-0.10, 0.10]');
    expect(tooltip.textContent).toContain('OMEGA: 0.40 [0.30, 0.50]');
  });

  it('is no role=application (which takes the screen reader\'s keys), and shows its points as a table on request', () => {
    chart(2);
    expect(screen.queryByRole('application')).toBeNull();
    expect(screen.queryByRole('table')).toBeNull();
    const toggle = screen.getByRole('button', { name: 'Show as table' });
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    fireEvent.click(toggle);

    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    expect(toggle.textContent).toBe('Hide the table');
    const table = screen.getByRole('table', { name: 'Cumulative effect of Revenue over time: values' });
    expect(document.getElementById(toggle.getAttribute('aria-controls') ?? '')?.contains(table)).toBe(true);
    const rowsText = [...table.querySelectorAll('tr')].map((tr) => [...tr.children].map((c) => c.textContent).join(' | '));
    expect(rowsText[0]).toBe('Point | ZETA | ALPHA | MID | BETA | OMEGA');
    expect(rowsText[1]).toBe('p0 | 0.00 [-0.10, 0.10] | 0.10 [0.00, 0.20] | 0.20 [0.10, 0.30] | 0.30 [0.20, 0.40] | 0.40 [0.30, 0.50]');
    expect(rowsText).toHaveLength(3);
  });

  it('lists the legend in the order of the series (the tables\' order of variations), not alphabetically', () => {
    const container = chart(2);
    const legend = [...container.querySelectorAll('.recharts-legend-item-text')].map((el) => el.textContent);
    expect(legend).toEqual(['ZETA', 'ALPHA', 'MID', 'BETA', 'OMEGA']);
  });

  it('moves several series\' points and error bars aside at a shared point, so they do not sit on one line', () => {
    const container = chart(1);
    const bars = [...container.querySelectorAll('.recharts-errorBar')];
    expect(bars).toHaveLength(5);
    // Each error bar's vertical line is its second; each series its own x, in the series' order.
    const xs = bars.map((bar) => Number(bar.querySelectorAll('line')[1]?.getAttribute('x1')));
    expect(new Set(xs).size).toBe(5);
    expect([...xs].sort((a, b) => a - b)).toEqual(xs);
    const dots = [...container.querySelectorAll('.recharts-line-dot')].map((dot) => Number(dot.getAttribute('cx')));
    expect(dots).toEqual(xs);
    // Centred on the point: the middle series sits at its tick.
    const tick = Number(container.querySelector('.recharts-xAxis .recharts-cartesian-axis-tick-line')?.getAttribute('x1'));
    expect(xs[2]).toBeCloseTo(tick, 5);
    expect(container.querySelector('.recharts-xAxis-tick-labels')?.textContent).toBe('p0');
  });

  it('keeps a lone series on its point', () => {
    expect(dodgeOffsets(1)).toEqual([0]);
    const offsets = dodgeOffsets(5);
    expect(offsets).toHaveLength(5);
    expect(offsets.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 10);
    expect(Math.max(...offsets) - Math.min(...offsets)).toBeLessThan(0.5);
    expect(Math.max(...dodgeOffsets(40)) - Math.min(...dodgeOffsets(40))).toBeLessThan(0.5);
  });

  it('labels the axis with the points\' labels, and draws bands (no error bars, no dodge) from three points on', () => {
    const container = chart(3);
    expect(container.querySelectorAll('.recharts-errorBar')).toHaveLength(0);
    expect(container.querySelectorAll('.recharts-area')).toHaveLength(5);
    expect(container.querySelector('.recharts-xAxis-tick-labels')?.textContent).toBe('p0p1p2');
  });

  it('writes each series in its theme colour in the tooltip', () => {
    render(<PointTooltip active label="p0" row={rows(1)[0]} series={series} formatY={(v) => v.toFixed(2)} />);
    const lines = [...screen.getByRole('tooltip').children].slice(1) as HTMLElement[];
    expect(lines.map((l) => l.style.color)).toEqual(SERIES_COLORS.slice(0, 5));
  });
});

describe('series colours', () => {
  const css = readFileSync(new URL('../../../app/styles.css', import.meta.url), 'utf8');
  /** The custom properties of the rule whose selector list contains `selector`. */
  const theme = (selector: string): Map<string, string> => {
    const rule = [...css.matchAll(/([^{}]+)\{([^}]*)\}/g)].find((m) => m[1]!.split(',').map((s) => s.trim()).includes(selector));
    return new Map([...(rule?.[2] ?? '').matchAll(/(--[\w-]+):\s*(#[0-9a-f]{6})/gi)].map((m) => [m[1]!, m[2]!.toLowerCase()]));
  };
  const luminance = (hex: string): number => {
    const [r, g, b] = [1, 3, 5].map((i) => {
      const c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  };
  const contrast = (a: string, b: string): number => {
    const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi! + 0.05) / (lo! + 0.05);
  };

  it.each([["[data-theme='light']"], ["[data-theme='dark']"]])('reach 4.5:1 as text on the page and the panel in %s', (selector) => {
    const vars = theme(selector);
    const failures: string[] = [];
    for (const color of SERIES_COLORS) {
      const name = /var\((--[\w-]+)\)/.exec(color)?.[1] ?? color;
      const value = vars.get(name);
      for (const background of ['--panel', '--bg']) {
        const ratio = value === undefined ? 0 : contrast(value, vars.get(background) ?? value);
        if (ratio < 4.5) {
          failures.push(`${name} (${value ?? 'unset'}) on ${background}: ${ratio.toFixed(2)}:1`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});
