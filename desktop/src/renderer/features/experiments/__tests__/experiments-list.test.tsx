import '../../../test/dom.js';
import { act, cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import { abExperiment, storedOf } from '../../../test/fixtures.js';
import ExperimentsList from '../experiments-list.js';

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe('experiments list', () => {
  it('does not download the whole list again every few seconds (the change feed refreshes it)', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const experiments = Array.from({ length: 301 }, (_, i) => storedOf(abExperiment(`exp-${i}`, { name: `Experiment ${i}` })));
    const { client, sent } = fakeApi((req) => {
      const from = Number(new URLSearchParams(req.path.split('?')[1]).get('cursor') ?? '0');
      const next = from + 200;
      return { status: 200, body: { items: experiments.slice(from, next), ...(next < experiments.length ? { nextCursor: String(next) } : {}) } };
    });
    render(
      <WithSession client={client} me={user()}>
        <ExperimentsList />
      </WithSession>,
    );
    await screen.findByRole('table', { name: 'Experiments' });
    expect(sent).toHaveLength(2);

    await act(async () => {
      vi.advanceTimersByTime(30_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
    });
    expect(sent).toHaveLength(2);
  });

  it('leaves archived experiments out until "Show archived" is ticked, then lists them marked archived', async () => {
    const u = userEvent.setup();
    const live = storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running' }));
    const old = storedOf(abExperiment('old-banner', { name: 'Old banner', status: 'stopped', archived: true }), { archived: true });
    const { client, sent } = fakeApi((req) => ({ status: 200, body: { items: req.path.includes('archived=true') ? [live, old] : [live] } }));
    render(
      <WithSession client={client} me={user()}>
        <ExperimentsList />
      </WithSession>,
    );

    const table = await screen.findByRole('table', { name: 'Experiments' });
    expect(within(table).queryByRole('link', { name: 'Old banner' })).toBeNull();
    expect(sent.map((r) => r.path)).toEqual([expect.not.stringContaining('archived=')]);

    await u.click(screen.getByRole('checkbox', { name: 'Show archived' }));
    const row = (await screen.findByRole('link', { name: 'Old banner' })).closest('tr')!;
    expect(within(row).getByRole('button', { name: 'archived' })).toBeTruthy();
    expect(sent.at(-1)?.path).toContain('archived=true');
    const checkout = screen.getByRole('link', { name: 'Checkout' }).closest('tr')!;
    expect(within(checkout).queryByRole('button', { name: 'archived' })).toBeNull();
  });

  it('searches as the API does, ignoring case and accents, and isolates each name\'s direction', async () => {
    const u = userEvent.setup();
    const items = [storedOf(abExperiment('office', { name: 'İstanbul office' })), storedOf(abExperiment('menu', { name: 'Café menu' }))];
    const { client } = fakeApi(() => ({ status: 200, body: { items } }));
    render(
      <WithSession client={client} me={user()}>
        <ExperimentsList />
      </WithSession>,
    );
    const table = await screen.findByRole('table', { name: 'Experiments' });
    expect(within(table).getByRole('link', { name: 'İstanbul office' }).getAttribute('dir')).toBe('auto');

    await u.type(screen.getByRole('searchbox', { name: 'Search experiments' }), 'istanbul');
    expect(within(table).getAllByRole('link').map((a) => a.textContent)).toEqual(['İstanbul office']);
    await u.clear(screen.getByRole('searchbox', { name: 'Search experiments' }));
    await u.type(screen.getByRole('searchbox', { name: 'Search experiments' }), 'CAFE');
    expect(within(table).getAllByRole('link').map((a) => a.textContent)).toEqual(['Café menu']);
  });
});
