import '../../../test/dom.js';
import { act, cleanup, render, screen, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import type { Responder } from '../../../test/fake-api.js';
import { abExperiment, storedOf } from '../../../test/fixtures.js';
import { LIST_POLL_MS } from '../../../lib/list-all.js';
import ExperimentsList from '../experiments-list.js';

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

const ALERTS = '/api/v1/projects/web/alerts';

/** An open guardrail alert of `experiment` on `metric`, nobody having acknowledged it. */
const alertOf = (id: number, experiment: string, metric: string, patch: Record<string, unknown> = {}) => ({
  id,
  environment: 'production',
  experiment,
  flag: null,
  metric,
  variation: 'treatment',
  control: 'control',
  detectedAt: '2026-11-25T12:00:00.000Z',
  difference: 'relative',
  effect: 0.2,
  ci: [0.1, 0.3],
  pValue: 0.001,
  alpha: 0.05,
  controlUnits: 600,
  treatmentUnits: 600,
  action: 'alert',
  actionAt: null,
  resolvedAt: null,
  resolution: null,
  acknowledgedAt: null,
  acknowledgedBy: null,
  acknowledgedByName: null,
  acknowledgeComment: null,
  ...patch,
});

/** The experiments endpoint listing `experiments`, the alerts endpoint answering `alerts` (one page unless it says otherwise). */
const withAlerts =
  (experiments: unknown[], alerts: Responder = () => ({ status: 200, body: { items: [] } })): Responder =>
  (req) =>
    req.path.startsWith(ALERTS) ? alerts(req) : req.path.startsWith('/api/v1/projects/web/experiments') ? { status: 200, body: { items: experiments } } : undefined;

const showList = (client: ReturnType<typeof fakeApi>['client']) =>
  render(
    <WithSession client={client} me={user()}>
      <ExperimentsList />
    </WithSession>,
  );

const rowOf = async (name: string): Promise<HTMLElement> => (await screen.findByRole('link', { name })).closest('tr')!;

describe('experiments list', () => {
  it('does not download the whole list again every few seconds (the change feed refreshes it)', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const experiments = Array.from({ length: 301 }, (_, i) => storedOf(abExperiment(`exp-${i}`, { name: `Experiment ${i}` })));
    const { client, sent } = fakeApi((req) => {
      if (req.path.startsWith(ALERTS)) {
        return { status: 200, body: { items: [] } };
      }
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
    expect(sent).toHaveLength(3);

    await act(async () => {
      vi.advanceTimersByTime(30_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
    });
    expect(sent).toHaveLength(3);
  });

  it('leaves archived experiments out until "Show archived" is ticked, then lists them marked archived', async () => {
    const u = userEvent.setup();
    const live = storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running' }));
    const old = storedOf(abExperiment('old-banner', { name: 'Old banner', status: 'stopped', archived: true }), { archived: true });
    const { client, sent } = fakeApi((req) => (req.path.startsWith(ALERTS) ? { status: 200, body: { items: [] } } : { status: 200, body: { items: req.path.includes('archived=true') ? [live, old] : [live] } }));
    const listed = () => sent.filter((r) => !r.path.startsWith(ALERTS)).map((r) => r.path);
    render(
      <WithSession client={client} me={user()}>
        <ExperimentsList />
      </WithSession>,
    );

    const table = await screen.findByRole('table', { name: 'Experiments' });
    expect(within(table).queryByRole('link', { name: 'Old banner' })).toBeNull();
    expect(listed()).toEqual([expect.not.stringContaining('archived=')]);

    await u.click(screen.getByRole('checkbox', { name: 'Show archived' }));
    const row = (await screen.findByRole('link', { name: 'Old banner' })).closest('tr')!;
    expect(within(row).getByRole('button', { name: 'archived' })).toBeTruthy();
    expect(listed().at(-1)).toContain('archived=true');
    const checkout = screen.getByRole('link', { name: 'Checkout' }).closest('tr')!;
    expect(within(checkout).queryByRole('button', { name: 'archived' })).toBeNull();
  });

  it('says by what an experiment randomises when it is not the user id, so an account experiment is told apart in the list', async () => {
    const accounts = storedOf(abExperiment('seats', { name: 'Seats', status: 'running', hashAttribute: 'accountId' }));
    const users = storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running' }));
    const { client } = fakeApi(withAlerts([accounts, users]));
    showList(client);
    expect((await rowOf('Seats')).textContent).toContain('randomised by accountId');
    expect((await rowOf('Checkout')).textContent).not.toContain('randomised by');
  });

  it('searches as the API does, ignoring case and accents, and isolates each name\'s direction', async () => {
    const u = userEvent.setup();
    const items = [storedOf(abExperiment('office', { name: 'İstanbul office' })), storedOf(abExperiment('menu', { name: 'Café menu' }))];
    const { client } = fakeApi(withAlerts(items));
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

  it('marks an experiment with open guardrail alerts with a badge to its page saying how many are open and how many are new, and names their metrics', async () => {
    const checkout = storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running' }));
    const menu = storedOf(abExperiment('menu', { name: 'Menu', status: 'running' }));
    const alerts = [alertOf(2, 'checkout', 'page-load-ms'), alertOf(1, 'checkout', 'error-rate', { acknowledgedAt: '2026-11-25T13:00:00.000Z', acknowledgedBy: 'u-owner' })];
    const { client, sent } = fakeApi(withAlerts([checkout, menu], () => ({ status: 200, body: { items: alerts } })));
    showList(client);

    const row = await rowOf('Checkout');
    const badge = await within(row).findByRole('link', { name: '2 open alerts, 1 new: page-load-ms, error-rate' });
    expect(badge.getAttribute('href')).toBe('#/experiments/checkout');
    expect(badge.getAttribute('title')).toBe('2 open alerts, 1 new: page-load-ms, error-rate');
    expect(badge.textContent).toBe('⚠ 2 open alerts 1 new');
    const asked = new URL(sent.find((r) => r.path.startsWith(ALERTS))!.path, 'http://x').searchParams;
    expect(Object.fromEntries(asked)).toEqual({ status: 'open', limit: '200' });

    const other = await rowOf('Menu');
    expect(within(other).getAllByRole('link').map((a) => a.textContent)).toEqual(['Menu']);
    expect(within(other).getAllByRole('cell')[2]?.textContent).toBe('—');
  });

  it('says "1 open alert" and names each metric\'s environment when the project has alerts in more than one', async () => {
    const checkout = storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running' }));
    const menu = storedOf(abExperiment('menu', { name: 'Menu', status: 'running' }));
    const alerts = [alertOf(2, 'menu', 'clicks', { environment: 'staging', acknowledgedAt: '2026-11-25T13:00:00.000Z' }), alertOf(1, 'checkout', 'page-load-ms')];
    const { client } = fakeApi(withAlerts([checkout, menu], () => ({ status: 200, body: { items: alerts } })));
    showList(client);

    expect((await within(await rowOf('Checkout')).findByRole('link', { name: '1 open alert, 1 new: page-load-ms (production)' })).textContent).toBe('⚠ 1 open alert 1 new');
    expect(within(await rowOf('Menu')).getByRole('link', { name: '1 open alert, all acknowledged: clicks (staging)' })).toBeTruthy();
  });

  it('lists only the experiments with open guardrail alerts while "Open guardrail alerts only" is ticked, together with the search', async () => {
    const u = userEvent.setup();
    const experiments = ['checkout', 'menu', 'banner'].map((key) => storedOf(abExperiment(key, { name: key[0]!.toUpperCase() + key.slice(1), status: 'running' })));
    const { client } = fakeApi(withAlerts(experiments, () => ({ status: 200, body: { items: [alertOf(1, 'checkout', 'page-load-ms'), alertOf(2, 'banner', 'clicks')] } })));
    showList(client);
    const table = await screen.findByRole('table', { name: 'Experiments' });
    await within(table).findAllByRole('link', { name: /open alert/ });
    const names = () => within(screen.getByRole('table', { name: 'Experiments' })).getAllByRole('link', { name: /^[A-Z][a-z]+$/ }).map((a) => a.textContent);
    expect(names()).toEqual(['Checkout', 'Menu', 'Banner']);

    await u.click(screen.getByRole('checkbox', { name: 'Open guardrail alerts only' }));
    expect(names()).toEqual(['Checkout', 'Banner']);
    await u.type(screen.getByRole('searchbox', { name: 'Search experiments' }), 'bann');
    expect(names()).toEqual(['Banner']);
    await u.clear(screen.getByRole('searchbox', { name: 'Search experiments' }));
    await u.type(screen.getByRole('searchbox', { name: 'Search experiments' }), 'menu');
    expect(screen.getByText('No experiment matches.')).toBeTruthy();

    await u.click(screen.getByRole('checkbox', { name: 'Open guardrail alerts only' }));
    expect(names()).toEqual(['Menu']);
  });

  it('still lists the experiments when the alerts cannot be loaded, with a note saying so', async () => {
    const experiments = [storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running' })), storedOf(abExperiment('menu', { name: 'Menu' }))];
    const { client } = fakeApi(withAlerts(experiments, () => ({ status: 503, body: { error: { code: 'UNAVAILABLE', message: 'the alerts store is down' } } })));
    showList(client);

    expect((await screen.findByText('Guardrail alerts could not be loaded: the alerts store is down')).tagName).toBe('P');
    const table = screen.getByRole('table', { name: 'Experiments' });
    expect(within(table).getAllByRole('link').map((a) => a.textContent)).toEqual(['Checkout', 'Menu']);
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('keeps the badges it has when a refresh of the alerts fails, and says they are as last loaded', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const experiments = [storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running' }))];
    let down = false;
    const { client } = fakeApi(
      withAlerts(experiments, () => (down ? { status: 503, body: { error: { code: 'UNAVAILABLE', message: 'the alerts store is down' } } } : { status: 200, body: { items: [alertOf(1, 'checkout', 'errors')] } })),
    );
    showList(client);
    expect(await screen.findByRole('link', { name: '1 open alert, 1 new: errors' })).toBeTruthy();

    down = true;
    await act(async () => {
      vi.advanceTimersByTime(LIST_POLL_MS);
      await new Promise((resolve) => setTimeout(resolve, 50));
    });

    expect(await screen.findByText('Guardrail alerts could not be refreshed: the alerts store is down; the badges show the alerts as last loaded.')).toBeTruthy();
    expect(screen.getByRole('link', { name: '1 open alert, 1 new: errors' })).toBeTruthy();
  });

  it('counts the open alerts of every page, following the cursor', async () => {
    const checkout = storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running' }));
    const { client, sent } = fakeApi(
      withAlerts([checkout], (req) =>
        req.path.includes('cursor=page-2')
          ? { status: 200, body: { items: [alertOf(1, 'checkout', 'error-rate')] } }
          : { status: 200, body: { items: [alertOf(2, 'checkout', 'page-load-ms')], nextCursor: 'page-2' } },
      ),
    );
    showList(client);

    expect(await within(await rowOf('Checkout')).findByRole('link', { name: '2 open alerts, 2 new: page-load-ms, error-rate' })).toBeTruthy();
    expect(sent.filter((r) => r.path.startsWith(ALERTS)).map((r) => Object.fromEntries(new URL(r.path, 'http://x').searchParams))).toEqual([
      { status: 'open', limit: '200' },
      { status: 'open', limit: '200', cursor: 'page-2' },
    ]);
  });

  it('reads at most 10 pages of open alerts', async () => {
    const checkout = storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running' }));
    let n = 0;
    const { client, sent } = fakeApi(withAlerts([checkout], () => ({ status: 200, body: { items: [alertOf(++n, 'checkout', 'page-load-ms')], nextCursor: `after-${n}` } })));
    showList(client);

    expect(await within(await rowOf('Checkout')).findByRole('link', { name: '10 open alerts, 10 new: page-load-ms' })).toBeTruthy();
    expect(sent.filter((r) => r.path.startsWith(ALERTS))).toHaveLength(10);
  });
});
