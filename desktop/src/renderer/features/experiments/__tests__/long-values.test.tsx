import '../../../test/dom.js';
import { readFileSync } from 'node:fs';
import { cleanup, render, screen, within } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StoredEnvironment } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import { abExperiment, storedOf } from '../../../test/fixtures.js';
import ExperimentPage from '../experiment-page.js';
import ExperimentsList from '../experiments-list.js';

// The console's stylesheet, as the app loads it: jsdom computes the styles its rules give.
const style = document.createElement('style');
beforeAll(() => {
  style.textContent = readFileSync(new URL('../../../app/styles.css', import.meta.url), 'utf8');
  document.head.append(style);
});
afterAll(() => { style.remove(); });
afterEach(cleanup);

const PRODUCTION: StoredEnvironment = { key: 'production', name: 'Production', production: true, requireApproval: false, version: 1, position: 0 };
const LONG_KEY = 't'.repeat(128);
const long = storedOf(
  abExperiment('long-values', {
    name: 'Long values',
    hypothesis: 'x'.repeat(5000),
    variations: [
      { key: 'control', weight: 0.5, value: 'control' },
      { key: LONG_KEY, weight: 0.5, value: 't' },
    ],
  }),
);

const wrap = (el: Element): string => getComputedStyle(el).overflowWrap;

describe('long values without spaces', () => {
  it('wrap the hypothesis anywhere instead of widening the page', async () => {
    const { client } = fakeApi((req) => (req.path === '/api/v1/projects/web/experiments/long-values' ? { status: 200, body: long } : { status: 200, body: { items: [] } }));
    render(
      <WithSession client={client} me={user()} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="long-values" />
      </WithSession>,
    );

    const hypothesis = (await screen.findByText('Hypothesis:')).closest('p')!;
    expect(wrap(hypothesis)).toBe('anywhere');
    expect(wrap(screen.getByRole('region', { name: 'Split' }).querySelector('p')!)).toBe('anywhere');
  });

  it('wrap a long variation key in its cell, which counts as at most 24em, while numbers and badges stay whole', async () => {
    const running = storedOf(abExperiment('short', { name: 'Short', status: 'running', startedAt: '2026-11-20T00:00:00Z' }));
    const { client } = fakeApi(() => ({ status: 200, body: { items: [long, running] } }));
    render(
      <WithSession client={client} me={user()} environments={[PRODUCTION]}>
        <ExperimentsList />
      </WithSession>,
    );

    const table = await screen.findByRole('table', { name: 'Experiments' });
    const variations = within(table).getByText(`control, ${LONG_KEY}`);
    expect(variations.tagName).toBe('TD');
    expect(wrap(variations)).toBe('anywhere');
    expect(getComputedStyle(variations).maxWidth).toBe('24em');
    const badge = within(table).getByText('running');
    expect(wrap(badge)).toBe('normal');
    expect(getComputedStyle(badge).whiteSpace).toBe('nowrap');

    // Numbers in any table keep their digits together.
    const numbers = document.createElement('td');
    numbers.className = 'num';
    table.querySelector('tr')!.append(numbers);
    expect(wrap(numbers)).toBe('normal');
  });
});
