import '../../../test/dom.js';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { XpApiClient } from '@xp/shared';
import type { Experiment, ExperimentResultsView, Holdout, StoredEnvironment, Stored } from '@xp/shared';
import { SessionContext } from '../../../app/session.js';
import { formatTime } from '../../../lib/format.js';
import { WithSession, fakeApi, fakeFetch, user } from '../../../test/fake-api.js';
import type { Responder } from '../../../test/fake-api.js';
import { abExperiment, comparisonView, metricView, resultsView, storedOf } from '../../../test/fixtures.js';
import ExperimentPage, { exposureWindow, resultsFileName } from '../experiment-page.js';

afterEach(cleanup);

const PRODUCTION: StoredEnvironment = { key: 'production', name: 'Production', production: true, requireApproval: false, version: 1, position: 0 };

function experiment(version: number, dimensions: string[]): Stored<Experiment> {
  const definition = abExperiment('checkout', { name: 'Checkout', status: 'running', startedAt: '2026-11-20T00:00:00Z', environments: ['production'], ...(dimensions.length === 0 ? {} : { dimensions }) });
  return storedOf(definition, { version, at: '2026-11-20T00:00:00Z' });
}

const results = (): ExperimentResultsView => resultsView();

describe('experiment page', () => {
  it('stops breaking the results down by a dimension taken off the experiment', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/checkout') {
        return { status: 200, body: experiment(2, ['plan']) };
      }
      if (req.method === 'PUT') {
        return { status: 200, body: experiment(3, []) };
      }
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results/breakdown')) {
        return new URL(req.path, 'http://x').searchParams.get('dimension') === 'plan'
          ? { status: 200, body: { dimension: 'plan', environment: 'production', values: [{ value: 'pro', results: results() }], omitted: { values: 0, units: 0 } } }
          : undefined;
      }
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results')) {
        return { status: 200, body: results() };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <SessionContext.Provider value={{ client, user: user(), project: 'web', environments: [PRODUCTION], environment: 'production', setEnvironment: () => undefined, refreshTick: 0 }}>
        <ExperimentPage experimentKey="checkout" />
      </SessionContext.Provider>,
    );

    await screen.findByRole('table', { name: 'Units per variation' });
    const resultsAsked = sent.filter((r) => r.path.includes('/results?')).length;
    await u.selectOptions(screen.getByRole('combobox', { name: 'Dimension' }), 'plan');
    await screen.findByRole('region', { name: 'Breakdown by plan' });
    // A dimension without a value changes the breakdown, not the page's results: no second request.
    expect(sent.filter((r) => r.path.includes('/results?'))).toHaveLength(resultsAsked);

    await u.click(screen.getByRole('button', { name: 'Dimensions…' }));
    await u.clear(screen.getByRole('textbox', { name: 'Dimensions (comma-separated)' }));
    await u.click(screen.getByRole('button', { name: 'Save dimensions' }));

    await waitFor(() => { expect(screen.queryByRole('region', { name: 'Breakdown by plan' })).toBeNull(); });
    expect(screen.queryByRole('combobox', { name: 'Dimension' })).toBeNull();
    const afterSave = sent.findIndex((r) => r.method === 'PUT');
    expect(sent.slice(afterSave).filter((r) => r.path.includes('/results/breakdown'))).toEqual([]);
    expect(sent.filter((r) => r.path.includes('/results?')).at(-1)?.path).not.toContain('attr.');
  });

  it('disables deciding and editing the dimensions for a viewer, and says why', async () => {
    const { client } = fakeApi((req) => {
      if (req.path === '/api/v1/projects/web/experiments/checkout') {
        return { status: 200, body: experiment(2, []) };
      }
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results')) {
        return { status: 200, body: results() };
      }
      return { status: 200, body: { items: [] } };
    });
    render(
      <WithSession client={client} me={user({ role: 'viewer' })} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );

    for (const name of ['Decide…', 'Dimensions…', 'Settings…']) {
      const button = await screen.findByRole('button', { name });
      expect(button).toHaveProperty('disabled', true);
      expect(button.getAttribute('aria-description')).toBe('Viewers cannot change experiments');
    }
    expect(screen.getByRole('button', { name: 'Export CSV' })).toHaveProperty('disabled', false);
  });

  it('shows the splits a running experiment served before its split was moved, and every save of the page keeps them', async () => {
    const u = userEvent.setup();
    const splitHistory = [
      { until: '2026-11-21T12:00:00.000Z', shares: { control: 0.5, treatment: 0.5 } },
      { until: '2026-11-23T08:30:00.000Z', shares: { control: 0.25, treatment: 0.75 } },
    ];
    const base = experiment(5, []).definition;
    let current: Stored<Experiment> = storedOf<Experiment>({ ...base, stickyBucketing: { enabled: true, bucketVersion: 0, minBucketVersion: 0 }, variations: [{ key: 'control', weight: 0.1, value: 'control' }, { key: 'treatment', weight: 0.9, value: 'treatment' }], splitHistory }, { version: 5 });
    const stored = current.definition;
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/checkout') {
        return { status: 200, body: current };
      }
      if (req.method === 'PUT' && req.path === '/api/v1/projects/web/experiments/checkout') {
        current = storedOf(req.body as Experiment, { version: current.version + 1 });
        return { status: 200, body: current };
      }
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results')) {
        return { status: 200, body: results() };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );

    const history = await screen.findByRole('list', { name: 'Split history' });
    expect(within(history).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
      expect.stringMatching(/^Split until \S.*: control 50\.0% · treatment 50\.0%$/),
      expect.stringMatching(/^Split until \S.*: control 25\.0% · treatment 75\.0%$/),
      expect.stringMatching(/^Split since \S.* \(current\): control 10\.0% · treatment 90\.0%$/),
    ]);
    expect(within(history).getAllByRole('listitem')[0]?.textContent).toContain(formatTime('2026-11-21T12:00:00.000Z'));

    await u.click(screen.getByRole('button', { name: 'Dimensions…' }));
    await u.type(screen.getByRole('textbox', { name: 'Dimensions (comma-separated)' }), 'plan');
    await u.click(screen.getByRole('button', { name: 'Save dimensions' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });

    await u.click(screen.getByRole('button', { name: 'Settings…' }));
    const available = screen.getByRole('checkbox', { name: 'Available to client-side SDKs (browsers, mobile apps)' });
    expect(available).toHaveProperty('checked', true);
    await u.click(available);
    await u.click(screen.getByRole('button', { name: 'Save settings' }));
    await screen.findByText('server-side only');

    const puts = sent.filter((r) => r.method === 'PUT');
    expect(puts.map((r) => r.ifMatch)).toEqual(['"5"', '"6"']);
    expect(puts[0]?.body).toEqual({ ...stored, dimensions: ['plan'] });
    expect(puts[1]?.body).toEqual({ ...stored, dimensions: ['plan'], clientSide: false });
    for (const put of puts) {
      expect((put.body as Experiment).splitHistory).toEqual(splitHistory);
    }
    // The history is still shown after the saves.
    expect(within(screen.getByRole('list', { name: 'Split history' })).getAllByRole('listitem')).toHaveLength(3);
  });

  it('says which split phase the results analyse, asks for another or all of them pooled, and warns that pooling may confound the effects', async () => {
    const u = userEvent.setup();
    const splitHistory = [
      { until: '2026-11-21T12:00:00.000Z', shares: { control: 0.5, treatment: 0.5 } },
      { until: '2026-11-23T08:30:00.000Z', shares: { control: 0.25, treatment: 0.75 } },
    ];
    const base = experiment(5, []).definition;
    const current = storedOf<Experiment>({ ...base, stickyBucketing: { enabled: true, bucketVersion: 0, minBucketVersion: 0 }, variations: [{ key: 'control', weight: 0.1, value: 'control' }, { key: 'treatment', weight: 0.9, value: 'treatment' }], splitHistory }, { version: 5 });
    const filters = { from: null, to: null, segment: null, attributes: {} };
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/checkout') {
        return { status: 200, body: current };
      }
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results')) {
        const phase = new URL(req.path, 'http://x').searchParams.get('phase');
        if (phase === 'all') {
          return {
            status: 200,
            body: resultsView({ filters: { ...filters, phase: { index: null, count: 3, from: null, to: null, splitChangedAt: null, pooled: true } }, warnings: [{ code: 'SPLIT_PERIODS_POOLED', message: 'pooled' }] }),
          };
        }
        const index = phase === null ? 2 : Number(phase);
        return {
          status: 200,
          body: resultsView({ filters: { ...filters, phase: { index, count: 3, from: null, to: null, splitChangedAt: index === 0 ? null : splitHistory[index - 1]!.until, pooled: false } }, warnings: [] }),
        };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );
    const lastResults = (): URLSearchParams => new URL(sent.filter((r) => r.path.includes('/results?')).at(-1)!.path, 'http://x').searchParams;

    // The current phase by default, without asking for it (servers older than phases still answer).
    const note = await screen.findByRole('status', { name: 'Split phase' });
    expect(note.textContent).toContain(`Results since the split changed on ${formatTime('2026-11-23T08:30:00.000Z')} (phase 3 of 3)`);
    expect(lastResults().get('phase')).toBeNull();
    expect(screen.queryByRole('alert', { name: 'Pooled split phases' })).toBeNull();

    const select = screen.getByRole('combobox', { name: 'Split phase' });
    await u.selectOptions(select, '0');
    await waitFor(() => { expect(lastResults().get('phase')).toBe('0'); });
    await waitFor(() => { expect(screen.getByRole('status', { name: 'Split phase' }).textContent).toContain(`Results before the split first changed on ${formatTime('2026-11-21T12:00:00.000Z')} (phase 1 of 3)`); });

    await u.selectOptions(select, 'all');
    await waitFor(() => { expect(lastResults().get('phase')).toBe('all'); });
    expect((await screen.findByRole('alert', { name: 'Pooled split phases' })).textContent).toContain("Simpson's paradox");
    expect(screen.getByRole('status', { name: 'Split phase' }).textContent).toContain('Results of all 3 split phases (pooled)');
  });

  it('shows the split of an experiment that was never moved on one line', async () => {
    const { client } = fakeApi((req) => (req.path === '/api/v1/projects/web/experiments/checkout' ? { status: 200, body: storedOf(abExperiment('checkout', { name: 'Checkout' })) } : { status: 200, body: { items: [] } }));
    render(
      <WithSession client={client} me={user()} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );

    expect((await screen.findByRole('region', { name: 'Split' })).textContent).toBe('Split: control 50.0% · treatment 50.0%');
    expect(screen.queryByRole('list', { name: 'Split history' })).toBeNull();
    expect(screen.queryByText('server-side only')).toBeNull();
  });

  it('offers starting a draft to an editor but not to an analyst, and not to an editor where production would change', async () => {
    const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 1 };
    const draft = (environments: string[]) => storedOf(abExperiment('checkout', { name: 'Checkout', environments }));
    const page = (role: 'editor' | 'analyst', environments: string[]) => {
      const { client } = fakeApi((req) => (req.path === '/api/v1/projects/web/experiments/checkout' ? { status: 200, body: draft(environments) } : { status: 200, body: { items: [] } }));
      return render(
        <WithSession client={client} me={user({ role })} environments={[PRODUCTION, DEVELOPMENT]}>
          <ExperimentPage experimentKey="checkout" />
        </WithSession>,
      );
    };

    const devOnly = page('editor', ['development']);
    expect(await screen.findByRole('button', { name: 'Start experiment' })).toHaveProperty('disabled', false);
    devOnly.unmount();

    const everywhere = page('editor', []);
    const protectedStart = await screen.findByRole('button', { name: 'Start experiment' });
    expect(protectedStart).toHaveProperty('disabled', true);
    expect(protectedStart.getAttribute('title')).toBe('Editors need an owner or admin to start, stop or resume an experiment that runs in Production');
    expect(screen.getByRole('button', { name: 'Dimensions…' })).toHaveProperty('disabled', false);
    everywhere.unmount();

    page('analyst', ['development']);
    const start = await screen.findByRole('button', { name: 'Start experiment' });
    expect(start).toHaveProperty('disabled', true);
    expect(start.getAttribute('title')).toBe('Analysts cannot change experiments');
  });

  it('resumes a stopped experiment after saying what it clears, then shows it running', async () => {
    const u = userEvent.setup();
    const base = experiment(3, []).definition;
    const stopped = storedOf({ ...base, status: 'stopped' as const, stoppedAt: '2026-11-24T00:00:00Z', decision: 'ship' as const, winner: 'treatment', releaseWinner: true }, { version: 3, at: '2026-11-24T00:00:00Z' });
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/checkout') {
        return { status: 200, body: stopped };
      }
      if (req.method === 'POST' && req.path === '/api/v1/projects/web/experiments/checkout/resume') {
        return { status: 200, body: storedOf({ ...base, status: 'running' as const }, { version: 4, at: '2026-11-25T00:00:00Z' }) };
      }
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results')) {
        return { status: 200, body: results() };
      }
      return { status: 200, body: { items: [] } };
    });
    render(
      <WithSession client={client} me={user({ role: 'admin' })} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );

    await u.click(await screen.findByRole('button', { name: 'Resume…' }));
    const dialog = screen.getByRole('dialog', { name: 'Resume checkout?' });
    expect(dialog.textContent).toContain('The decision (ship, treatment) is cleared and the winner is no longer served to everyone.');
    expect(sent.some((r) => r.path.endsWith('/resume'))).toBe(false);
    await u.click(screen.getByRole('button', { name: 'Resume experiment' }));

    await screen.findByRole('button', { name: 'Decide…' });
    expect(screen.queryByRole('button', { name: 'Resume…' })).toBeNull();
    expect(sent.find((r) => r.path.endsWith('/resume'))?.ifMatch).toBe('"3"');
  });

  it('proposes no winner when no variation is significantly better on the primary metric, and says so', async () => {
    const u = userEvent.setup();
    const treatment = (adjustedPValue: number, significant: boolean) => ({
      variation: 'treatment',
      units: 100,
      total: 11,
      mean: 0.11,
      comparison: comparisonView({ effect: 0.08, ci: [-0.02, 0.18], credibleInterval: [-0.02, 0.18], se: 0.05, pValue: adjustedPValue, adjustedPValue, significant, chanceToWin: 0.94, risk: { control: 0.08, treatment: 0.01 } }),
    });
    const withPrimary = (adjustedPValue: number, significant: boolean): ExperimentResultsView =>
      resultsView({ metrics: [metricView('converted', { name: 'Converted', variations: [{ variation: 'control', units: 100, total: 10, mean: 0.1, comparison: null }, treatment(adjustedPValue, significant)] })] });
    let answer = withPrimary(0.11, false);
    const running = storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running', startedAt: '2026-11-20T00:00:00Z', environments: ['production'], metrics: { primary: ['converted'], secondary: [], guardrails: [] } }), { version: 4 });
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/checkout') {
        return { status: 200, body: running };
      }
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results')) {
        return { status: 200, body: answer };
      }
      if (req.method === 'POST' && req.path.endsWith('/stop')) {
        return { status: 200, body: storedOf({ ...running.definition, status: 'stopped' as const }, { version: 5 }) };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    const { unmount } = render(
      <WithSession client={client} me={user({ role: 'admin' })} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );

    await screen.findByRole('table', { name: 'Converted by variation' });
    await u.click(screen.getByRole('switch', { name: 'Sequential (safe to peek)' }));
    await waitFor(() => { expect(sent.at(-1)?.path).toContain('sequential=true'); });
    const before = sent.length;
    await u.click(screen.getByRole('button', { name: 'Decide…' }));
    const dialog = screen.getByRole('dialog', { name: 'Decide on Checkout' });
    expect((await within(dialog).findByRole('status')).textContent).toMatch(/^No variation is significantly better on Converted; shipping one is a judgement call\. Lowest corrected p-value: p = 0\.110 \(Treatment, \+8\.0%\)\./);
    // Judged as the page analyses the results (here sequentially), without its filters.
    expect(sent.slice(before).map((r) => r.path)).toEqual(['/api/v1/projects/web/experiments/checkout/results?environment=production&sequential=true&cuped=true']);
    const winner = within(dialog).getByRole<HTMLSelectElement>('combobox', { name: 'Winner' });
    expect(winner.value).toBe('');
    // The control is no ship: returning to it is the decision "rollback", which the API requires.
    expect([...winner.options].map((o) => o.value)).toEqual(['', 'treatment']);
    const stop = within(dialog).getByRole('button', { name: 'Stop and record decision' });
    expect(stop).toHaveProperty('disabled', true);
    expect(stop.getAttribute('title')).toBe('Choose the variation to ship');

    // Shipping anyway stays possible, once chosen.
    await u.selectOptions(winner, 'treatment');
    expect(stop).toHaveProperty('disabled', false);
    await u.click(stop);
    await waitFor(() => { expect(sent.find((r) => r.path.endsWith('/stop'))?.body).toEqual({ decision: 'ship', winner: 'treatment', releaseWinner: false }); });
    unmount();

    // A significantly better treatment is proposed.
    answer = withPrimary(0.004, true);
    render(
      <WithSession client={client} me={user({ role: 'admin' })} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );
    await u.click(await screen.findByRole('button', { name: 'Decide…' }));
    const again = screen.getByRole('dialog', { name: 'Decide on Checkout' });
    expect((await within(again).findByRole('status')).textContent).toMatch(/^Treatment is significantly better on Converted \(\+8\.0%, corrected p = 0\.004\)\./);
    expect(within(again).getByRole<HTMLSelectElement>('combobox', { name: 'Winner' }).value).toBe('treatment');
  });

  it('does not propose shipping when the sample ratio check fails or a guardrail metric is significantly harmed, and names them (F2)', async () => {
    const u = userEvent.setup();
    const comparison = (effect: number, significant: boolean, adjustedPValue: number) =>
      comparisonView({ effect, ci: [effect - 0.05, effect + 0.05], credibleInterval: [effect - 0.05, effect + 0.05], pValue: adjustedPValue, adjustedPValue, significant, chanceToWin: 0.9, risk: { control: 0.08, treatment: 0.01 } });
    const metric = (key: string, name: string, role: 'primary' | 'secondary' | 'guardrail', guardrail: boolean, higherIsBetter: boolean, c: ReturnType<typeof comparison>): ExperimentResultsView['metrics'][number] =>
      metricView(key, { name, role, guardrail, higherIsBetter, variations: [{ variation: 'control', units: 100, total: 10, mean: 0.1, comparison: null }, { variation: 'treatment', units: 100, total: 11, mean: 0.11, comparison: c }] });
    const primary = metric('converted', 'Converted', 'primary', false, true, comparison(0.08, true, 0.004));
    let answer: ExperimentResultsView = { ...results(), srm: { chiSquare: 30, pValue: 0.0002, flagged: true, error: null }, metrics: [primary] };
    const running = storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running', startedAt: '2026-11-20T00:00:00Z', environments: ['production'], metrics: { primary: ['converted'], secondary: [], guardrails: ['errors', 'latency', 'revenue'] } }), { version: 4 });
    const { client } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/checkout') {
        return { status: 200, body: running };
      }
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results')) {
        return { status: 200, body: answer };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    const open = async (): Promise<HTMLElement> => {
      render(
        <WithSession client={client} me={user({ role: 'admin' })} environments={[PRODUCTION]}>
          <ExperimentPage experimentKey="checkout" />
        </WithSession>,
      );
      await u.click(await screen.findByRole('button', { name: 'Decide…' }));
      return screen.getByRole('dialog', { name: 'Decide on Checkout' });
    };

    // Sample ratio mismatch: a significantly better treatment is not proposed.
    let dialog = await open();
    expect((await within(dialog).findByRole('alert', { name: 'Before you decide' })).textContent).toContain('Do not trust these results: sample ratio mismatch (p < 0.001)');
    expect(within(dialog).getByRole('status').textContent).toContain('it is not proposed as the winner');
    expect(within(dialog).getByRole<HTMLSelectElement>('combobox', { name: 'Winner' }).value).toBe('');
    cleanup();

    // Guardrails: a lower-is-better metric that rose significantly and a higher-is-better one (a primary
    // metric the guardrail checks watch too) that fell are named; a non-significant or improving one is not.
    answer = {
      ...results(),
      metrics: [
        primary,
        metric('errors', 'Errors per user', 'guardrail', true, false, comparison(0.215, true, 0.01)),
        metric('latency', 'Latency', 'guardrail', true, false, comparison(0.3, false, 0.2)),
        metric('revenue', 'Revenue', 'secondary', true, true, comparison(-0.1, true, 0.03)),
        metric('speed', 'Speed', 'guardrail', true, false, comparison(-0.2, true, 0.01)),
      ],
    };
    dialog = await open();
    const alert = (await within(dialog).findByRole('alert', { name: 'Before you decide' })).textContent;
    expect(alert).toContain('Treatment significantly degrades 2 guardrail metrics Errors per user (+21.5%, corrected p = 0.010), Revenue (-10.0%, corrected p = 0.030).');
    expect(alert).not.toContain('Latency');
    expect(alert).not.toContain('Speed');
    expect(alert).not.toContain('sample ratio');
    const winner = within(dialog).getByRole<HTMLSelectElement>('combobox', { name: 'Winner' });
    expect(winner.value).toBe('');
    // Still the user's call: choosing it keeps the warning in view.
    await u.selectOptions(winner, 'treatment');
    expect(within(dialog).getByRole('alert', { name: 'Before you decide' }).textContent).toContain('Errors per user');
    expect(within(dialog).getByRole('button', { name: 'Stop and record decision' })).toHaveProperty('disabled', false);
  });

  it('filters the results by first-exposure days, both inclusive, and refuses a window that ends before it starts', async () => {
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/checkout') {
        return { status: 200, body: experiment(2, []) };
      }
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results')) {
        return { status: 200, body: results() };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <SessionContext.Provider value={{ client, user: user(), project: 'web', environments: [PRODUCTION], environment: 'production', setEnvironment: () => undefined, refreshTick: 0 }}>
        <ExperimentPage experimentKey="checkout" />
      </SessionContext.Provider>,
    );
    const lastResults = (): URLSearchParams => new URL(sent.filter((r) => r.path.includes('/results?')).at(-1)!.path, 'http://x').searchParams;

    fireEvent.change(await screen.findByLabelText('Exposed from'), { target: { value: '2026-11-21' } });
    fireEvent.change(screen.getByLabelText('through'), { target: { value: '2026-11-22' } });
    // Days in the browser's time zone, as every other time in the console: from local midnight to the midnight after the last day.
    await waitFor(() => { expect(lastResults().get('to')).toBe(new Date(2026, 10, 23).toISOString()); });
    expect(lastResults().get('from')).toBe(new Date(2026, 10, 21).toISOString());
    expect(screen.getByText('(your time zone)')).toBeTruthy();
    expect(screen.getByLabelText('Exposed from').closest('label')?.getAttribute('title')).toContain(`in your time zone (${Intl.DateTimeFormat().resolvedOptions().timeZone})`);

    fireEvent.change(screen.getByLabelText('through'), { target: { value: '2026-11-20' } });
    expect((await screen.findByRole('alert')).textContent).toBe('The window ends (2026-11-20) before it starts (2026-11-21): the dates are not applied.');
    await waitFor(() => { expect(lastResults().has('from')).toBe(false); });
  });

  it('says a started experiment without traffic has no exposures yet, and that no units match only once a filter narrows them', async () => {
    const u = userEvent.setup();
    const empty: ExperimentResultsView = {
      ...results(),
      units: { analysed: 0, excluded: 0 },
      variations: results().variations.map((v) => ({ ...v, units: 0 })),
      srm: { chiSquare: 0, pValue: 1, flagged: false, error: { code: 'INSUFFICIENT_SAMPLE', message: 'no units' } },
    };
    const beta = storedOf({ key: 'beta', name: 'Beta', type: 'ids' as const, attribute: 'id', values: ['u1'] });
    const { client } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/checkout') {
        return { status: 200, body: experiment(2, []) };
      }
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results')) {
        return { status: 200, body: empty };
      }
      if (req.path.startsWith('/api/v1/projects/web/segments')) {
        return { status: 200, body: { items: [beta] } };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user()} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );

    expect(await screen.findByText(/^No exposures yet in this environment: traffic appears here once SDKs expose units/)).toBeTruthy();
    expect(screen.queryByText(/No units match/)).toBeNull();

    await u.selectOptions(screen.getByRole('combobox', { name: 'Segment' }), 'beta');
    expect(await screen.findByText(/^No units match/)).toBeTruthy();
    expect(screen.queryByText(/No exposures yet/)).toBeNull();
  });

  it('lists the environments of the results by name and asks for them by key', async () => {
    const u = userEvent.setup();
    const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 1 };
    const everywhere = storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running', startedAt: '2026-11-20T00:00:00Z' }), { version: 2 });
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/checkout') {
        return { status: 200, body: everywhere };
      }
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results')) {
        return { status: 200, body: results() };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user()} environments={[PRODUCTION, DEVELOPMENT]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );

    const select = await screen.findByRole('combobox', { name: 'Environment' });
    expect(within(select).getAllByRole('option').map((o) => [o.textContent, (o as HTMLOptionElement).value])).toEqual([
      ['Production', 'production'],
      ['Development', 'development'],
    ]);
    await u.selectOptions(select, 'Development');
    await waitFor(() => { expect(new URL(sent.filter((r) => r.path.includes('/results?')).at(-1)!.path, 'http://x').searchParams.get('environment')).toBe('development'); });
  });

  it('turns typed days into the instants of their midnights in the time zone, both days inclusive', () => {
    expect(exposureWindow('', '', 'UTC')).toEqual({});
    expect(exposureWindow('2026-11-21', '', 'UTC')).toEqual({ from: '2026-11-21T00:00:00.000Z' });
    expect(exposureWindow('', '2026-11-21', 'UTC')).toEqual({ to: '2026-11-22T00:00:00.000Z' });
    expect(exposureWindow('2026-11-21', '2026-11-21', 'UTC')).toEqual({ from: '2026-11-21T00:00:00.000Z', to: '2026-11-22T00:00:00.000Z' });
    // Dec 3 in Los Angeles (UTC−8) runs from 08:00 UTC that day to 08:00 UTC the next.
    expect(exposureWindow('2026-12-03', '2026-12-03', 'America/Los_Angeles')).toEqual({ from: '2026-12-03T08:00:00.000Z', to: '2026-12-04T08:00:00.000Z' });
    // A day daylight saving time shortens (23 hours) and one whose midnight it skips (Santiago's day starts at 01:00).
    expect(exposureWindow('2026-03-08', '2026-03-08', 'America/Los_Angeles')).toEqual({ from: '2026-03-08T08:00:00.000Z', to: '2026-03-09T07:00:00.000Z' });
    expect(exposureWindow('2026-09-06', '', 'America/Santiago')).toEqual({ from: '2026-09-06T04:00:00.000Z' });
    expect(exposureWindow('2026-12-03', '', 'Asia/Kolkata')).toEqual({ from: '2026-12-02T18:30:00.000Z' });
    expect(exposureWindow('2026-11-22', '2026-11-21', 'UTC').problem).toMatch(/ends .* before it starts/);
    expect(exposureWindow('2026-02-30', '', 'UTC').problem).toBe('Enter the days as dates.');
  });
});

/**
 * The experiment "checkout" as the API keeps it: each save bumps the version, and one sent from
 * another version than the current is refused (409 VERSION_CONFLICT), as the API does. `change` is
 * someone else's save, in another tab.
 */
function experimentBackend(initial: Stored<Experiment>, extra: Responder = () => undefined): { respond: Responder; current: () => Stored<Experiment>; change: (patch: Partial<Experiment>) => void } {
  let current = initial;
  const conflict = (ifMatch: string | null) => ({
    status: 409,
    body: { error: { code: 'VERSION_CONFLICT', message: `experiment was changed by someone else (version ${current.version}, you sent ${(ifMatch ?? '').replaceAll('"', '')})`, details: { currentVersion: current.version } } },
  });
  const respond: Responder = (req) => {
    const own = extra(req);
    if (own !== undefined) {
      return own;
    }
    if (req.path === '/api/v1/projects/web/experiments/checkout') {
      if (req.method === 'GET') {
        return { status: 200, body: current };
      }
      if (req.method === 'PUT') {
        if (req.ifMatch !== `"${current.version}"`) {
          return conflict(req.ifMatch);
        }
        current = storedOf(req.body as Experiment, { version: current.version + 1 });
        return { status: 200, body: current };
      }
    }
    if (req.method === 'POST' && req.path === '/api/v1/projects/web/experiments/checkout/stop') {
      if (req.ifMatch !== `"${current.version}"`) {
        return conflict(req.ifMatch);
      }
      current = storedOf({ ...current.definition, status: 'stopped', stoppedAt: '2026-11-26T00:00:00Z', ...(req.body as Partial<Experiment>) }, { version: current.version + 1 });
      return { status: 200, body: current };
    }
    if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results')) {
      return { status: 200, body: results() };
    }
    return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
  };
  return {
    respond,
    current: () => current,
    change: (patch) => {
      current = storedOf({ ...current.definition, ...patch }, { version: current.version + 1 });
    },
  };
}

describe('experiment page dialogs and another tab', () => {
  /** The page in a session whose change feed has ticked `tick` times: a new tick refreshes it in place. */
  const page = (client: ReturnType<typeof fakeApi>['client'], tick: number) => (
    <SessionContext.Provider value={{ client, user: user(), project: 'web', environments: [PRODUCTION], environment: 'production', setEnvironment: () => undefined, refreshTick: tick }}>
      <ExperimentPage experimentKey="checkout" />
    </SessionContext.Provider>
  );
  const experimentReads = (sent: ReturnType<typeof fakeApi>['sent']): number => sent.filter((r) => r.method === 'GET' && r.path === '/api/v1/projects/web/experiments/checkout').length;

  it('saves the dimensions from the version the dialog opened at: a change made meanwhile in another tab is a conflict, not overwritten', async () => {
    const u = userEvent.setup();
    const backend = experimentBackend(experiment(5, ['country']));
    const { client, sent } = fakeApi(backend.respond);
    const { rerender } = render(page(client, 0));

    await u.click(await screen.findByRole('button', { name: 'Dimensions…' }));
    const field = screen.getByRole<HTMLInputElement>('textbox', { name: 'Dimensions (comma-separated)' });
    expect(field.value).toBe('country');

    // Tab A adds "plan"; the change feed refreshes this tab behind the open dialog.
    backend.change({ dimensions: ['country', 'plan'] });
    rerender(page(client, 1));
    await waitFor(() => { expect(experimentReads(sent)).toBe(2); });
    await waitFor(() => { expect(within(screen.getByRole('combobox', { name: 'Dimension', hidden: true })).getAllByRole('option', { hidden: true }).map((o) => o.textContent)).toContain('plan'); });
    // The form still shows what it was opened with.
    expect(field.value).toBe('country');

    await u.type(field, ', device');
    await u.click(screen.getByRole('button', { name: 'Save dimensions' }));

    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Someone else changed this since you opened it');
    expect(alert.textContent).toContain('Reload to see their change, then apply yours again.');
    const puts = sent.filter((r) => r.method === 'PUT');
    expect(puts.map((r) => r.ifMatch)).toEqual(['"5"']);
    // Their change survives.
    expect(backend.current().definition.dimensions).toEqual(['country', 'plan']);
    expect(screen.getByRole('dialog', { name: 'Result dimensions of Checkout' })).toBeTruthy();

    await u.click(screen.getByRole('button', { name: 'Reload their version' }));
    await waitFor(() => { expect(field.value).toBe('country, plan'); });
    expect(screen.getByText(/now shows their version \(version 6\)/)).toBeTruthy();
    expect(screen.queryByRole('alert')).toBeNull();

    await u.type(field, ', device');
    await u.click(screen.getByRole('button', { name: 'Save dimensions' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    expect(sent.filter((r) => r.method === 'PUT').map((r) => r.ifMatch)).toEqual(['"5"', '"6"']);
    expect(backend.current().definition.dimensions).toEqual(['country', 'plan', 'device']);
  });

  it('does not turn "server-side only", set in another tab, back off from a Settings dialog opened before', async () => {
    const u = userEvent.setup();
    const backend = experimentBackend(experiment(7, []));
    const { client, sent } = fakeApi(backend.respond);
    const { rerender } = render(page(client, 0));

    await u.click(await screen.findByRole('button', { name: 'Settings…' }));
    const available = screen.getByRole<HTMLInputElement>('checkbox', { name: 'Available to client-side SDKs (browsers, mobile apps)' });
    expect(available.checked).toBe(true);

    backend.change({ clientSide: false });
    rerender(page(client, 1));
    await waitFor(() => { expect(experimentReads(sent)).toBe(2); });
    await screen.findByText('server-side only');
    expect(available.checked).toBe(true);

    await u.click(screen.getByRole('button', { name: 'Save settings' }));
    expect((await screen.findByRole('alert')).textContent).toContain('Someone else changed this since you opened it');
    expect(sent.filter((r) => r.method === 'PUT').map((r) => r.ifMatch)).toEqual(['"7"']);
    expect(backend.current().definition.clientSide).toBe(false);

    await u.click(screen.getByRole('button', { name: 'Reload their version' }));
    await waitFor(() => { expect(available.checked).toBe(false); });
  });

  it('stops from the version the decision dialog opened at', async () => {
    const u = userEvent.setup();
    const backend = experimentBackend(experiment(3, []));
    const { client, sent } = fakeApi(backend.respond);
    const { rerender } = render(page(client, 0));

    await u.click(await screen.findByRole('button', { name: 'Decide…' }));
    backend.change({ hypothesis: 'changed elsewhere' });
    rerender(page(client, 1));
    await screen.findByText('changed elsewhere');

    const dialog = screen.getByRole('dialog', { name: 'Decide on Checkout' });
    await u.selectOptions(within(dialog).getByRole('combobox', { name: 'Decision' }), 'rollback');
    await u.click(within(dialog).getByRole('button', { name: 'Stop and record decision' }));

    expect((await within(dialog).findByRole('alert')).textContent).toContain('Someone else changed this since you opened it');
    expect(sent.find((r) => r.path.endsWith('/stop'))?.ifMatch).toBe('"3"');
    expect(backend.current().definition.status).toBe('running');
  });

  it('keeps the winner chosen in the decision dialog when their version is reloaded', async () => {
    const u = userEvent.setup();
    const backend = experimentBackend(experiment(3, []));
    const { client, sent } = fakeApi(backend.respond);
    const { rerender } = render(page(client, 0));

    await u.click(await screen.findByRole('button', { name: 'Decide…' }));
    const dialog = screen.getByRole('dialog', { name: 'Decide on Checkout' });
    const winner = within(dialog).getByRole<HTMLSelectElement>('combobox', { name: 'Winner' });
    const pick = [...winner.options].map((o) => o.value).find((v) => v !== '' && v !== winner.value) ?? winner.options[winner.options.length - 1]!.value;
    await u.selectOptions(winner, pick);
    backend.change({ hypothesis: 'changed elsewhere' });
    rerender(page(client, 1));
    await screen.findByText('changed elsewhere');
    await u.click(within(dialog).getByRole('button', { name: 'Stop and record decision' }));
    await within(dialog).findByRole('alert');

    await u.click(within(dialog).getByRole('button', { name: 'Reload their version' }));
    await within(dialog).findByText(/now shows their version/);

    expect(within(dialog).getByRole<HTMLSelectElement>('combobox', { name: 'Winner' }).value).toBe(pick);
    await u.click(within(dialog).getByRole('button', { name: 'Stop and record decision' }));
    await waitFor(() => { expect(sent.filter((r) => r.path.endsWith('/stop')).map((r) => r.ifMatch)).toEqual(['"3"', '"4"']); });
    expect(sent.filter((r) => r.path.endsWith('/stop')).at(-1)?.body).toMatchObject({ decision: 'ship', winner: pick });
  });
});

describe('experiment page filters, stopped experiments and unknown keys', () => {
  const beta = storedOf({ key: 'beta', name: 'Beta', type: 'ids' as const, attribute: 'id', values: ['u1'] });
  const breakdownOf = { status: 200, body: { dimension: 'plan', environment: 'production', values: [{ value: 'pro', results: results() }], omitted: { values: 0, units: 0 } } };
  const withSegments: Responder = (req) => {
    if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results/breakdown')) {
      return breakdownOf;
    }
    if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results.csv')) {
      return { status: 200, text: 'variation,units\r\n', contentType: 'text/csv; charset=utf-8' };
    }
    return req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/segments') ? { status: 200, body: { items: [beta] } } : undefined;
  };

  it('breaks down with the chosen segment and dates, and names the filters the API applied', async () => {
    const u = userEvent.setup();
    // The breakdown echoes the filters it was asked for, as the API does.
    const echoing: Responder = (req) => {
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results/breakdown')) {
        const q = new URL(req.path, 'http://x').searchParams;
        return { status: 200, body: { ...breakdownOf.body, filters: { from: q.get('from'), to: q.get('to'), segment: q.get('segment'), attributes: {} } } };
      }
      return withSegments(req);
    };
    const { client, sent } = fakeApi(experimentBackend(experiment(2, ['plan']), echoing).respond);
    render(
      <WithSession client={client} me={user()} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );
    const note = () => within(screen.getByRole('region', { name: 'Breakdown by plan' })).queryByRole('note')?.textContent ?? null;
    const lastBreakdown = () => new URL(sent.filter((r) => r.path.includes('/results/breakdown')).at(-1)!.path, 'http://x').searchParams;

    await u.selectOptions(await screen.findByRole('combobox', { name: 'Dimension' }), 'plan');
    await screen.findByRole('region', { name: 'Breakdown by plan' });
    expect(note()).toBeNull();
    expect([...lastBreakdown().keys()].sort()).toEqual(['cuped', 'dimension', 'environment', 'sequential']);

    await u.selectOptions(screen.getByRole('combobox', { name: 'Segment' }), 'beta');
    await waitFor(() => { expect(note()).toBe('Filtered as the results: segment beta.'); });
    expect(lastBreakdown().get('segment')).toBe('beta');

    fireEvent.change(screen.getByLabelText('Exposed from'), { target: { value: '2026-11-21' } });
    fireEvent.change(screen.getByLabelText('through'), { target: { value: '2026-11-22' } });
    const window = exposureWindow('2026-11-21', '2026-11-22');
    await waitFor(() => { expect(note()).toBe(`Filtered as the results: segment beta, first exposed from ${formatTime(window.from)} before ${formatTime(window.to)}.`); });
    expect([lastBreakdown().get('segment'), lastBreakdown().get('from'), lastBreakdown().get('to')]).toEqual(['beta', window.from, window.to]);
    // The breakdown asks what the results ask.
    const lastResults = new URL(sent.filter((r) => r.path.includes('/results?')).at(-1)!.path, 'http://x').searchParams;
    expect([lastResults.get('segment'), lastResults.get('from'), lastResults.get('to')]).toEqual(['beta', window.from, window.to]);

    await u.selectOptions(screen.getByRole('combobox', { name: 'Segment' }), 'Everyone');
    await waitFor(() => { expect(note()).toBe(`Filtered as the results: first exposed from ${formatTime(window.from)} before ${formatTime(window.to)}.`); });
    expect(lastBreakdown().has('segment')).toBe(false);
    expect(screen.queryByText(/covers all units/)).toBeNull();
  });

  it('names a results CSV after the filters it was exported with', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi(experimentBackend(experiment(2, ['plan']), withSegments).respond);
    const saved: string[] = [];
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: () => 'blob:test/0', revokeObjectURL: () => undefined }));
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      saved.push(this.download);
    });
    try {
      render(
        <WithSession client={client} me={user()} environments={[PRODUCTION]}>
          <ExperimentPage experimentKey="checkout" />
        </WithSession>,
      );

      await u.click(await screen.findByRole('button', { name: 'Export CSV' }));
      await waitFor(() => { expect(saved).toEqual(['checkout-production-results.csv']); });

      await u.selectOptions(screen.getByRole('combobox', { name: 'Segment' }), 'beta');
      await u.selectOptions(screen.getByRole('combobox', { name: 'Dimension' }), 'plan');
      await u.type(screen.getByRole('textbox', { name: 'plan equals' }), 'pro{Enter}');
      fireEvent.change(screen.getByLabelText('Exposed from'), { target: { value: '2026-11-01' } });
      fireEvent.change(screen.getByLabelText('through'), { target: { value: '2026-11-30' } });
      await u.click(screen.getByRole('button', { name: 'Export CSV' }));
      await waitFor(() => { expect(saved).toHaveLength(2); });
      expect(saved[1]).toBe('checkout-production-results-segment-beta-plan-pro-2026-11-01_2026-11-30.csv');
      const csv = new URL(sent.filter((r) => r.path.includes('/results.csv')).at(-1)!.path, 'http://x').searchParams;
      expect([csv.get('segment'), csv.get('attr.plan'), csv.get('bom')]).toEqual(['beta', 'pro', '1']);
    } finally {
      click.mockRestore();
      vi.unstubAllGlobals();
    }
  });

  it('keeps the names of filtered CSVs safe for file systems and distinct', () => {
    expect(resultsFileName('checkout', 'production')).toBe('checkout-production-results.csv');
    expect(resultsFileName('checkout', 'production', { segment: 'us-users', fromDay: '2026-11-01', toDay: '2026-11-30' })).toBe('checkout-production-results-segment-us-users-2026-11-01_2026-11-30.csv');
    expect(resultsFileName('checkout', 'production', { fromDay: '2026-11-01' })).toBe('checkout-production-results-from-2026-11-01.csv');
    expect(resultsFileName('checkout', 'production', { toDay: '2026-11-30' })).toBe('checkout-production-results-through-2026-11-30.csv');
    const slash = resultsFileName('checkout', 'production', { attribute: ['region', 'EU/West'] });
    const space = resultsFileName('checkout', 'production', { attribute: ['region', 'EU West'] });
    expect(slash).toMatch(/^checkout-production-results-region-EU_West-[0-9a-f]{6}\.csv$/);
    expect(space).toMatch(/^checkout-production-results-region-EU_West-[0-9a-f]{6}\.csv$/);
    expect(slash).not.toBe(space);
    expect(resultsFileName('checkout', 'production', { attribute: ['city', '../..'] })).toMatch(/^checkout-production-results-city-value-[0-9a-f]{6}\.csv$/);
    expect(resultsFileName('checkout', 'production', { attribute: ['note', 'x'.repeat(300)] }).length).toBeLessThan(120);
  });

  it('shows when a stopped experiment stopped and its decision, and says it stopped before any unit was exposed', async () => {
    const stoppedAt = '2026-11-24T09:30:00Z';
    const base = experiment(4, []).definition;
    const stopped = storedOf<Experiment>(
      { ...base, status: 'stopped', stoppedAt, decision: 'ship', winner: 'treatment', releaseWinner: true, variations: [{ key: 'control', name: 'Control', weight: 0.5, value: 'control' }, { key: 'treatment', name: 'One-page checkout', weight: 0.5, value: 'treatment' }] },
      { version: 4 },
    );
    const empty: ExperimentResultsView = {
      ...results(),
      experiment: { ...results().experiment, status: 'stopped' },
      units: { analysed: 0, excluded: 0 },
      variations: results().variations.map((v) => ({ ...v, units: 0 })),
      srm: { chiSquare: 0, pValue: 1, flagged: false, error: { code: 'INSUFFICIENT_SAMPLE', message: 'no units' } },
    };
    const { client } = fakeApi(experimentBackend(stopped, (req) => (req.path.includes('/results') ? { status: 200, body: empty } : undefined)).respond);
    render(
      <WithSession client={client} me={user()} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );

    const decision = await screen.findByRole('region', { name: 'Decision' });
    expect(decision.textContent).toBe(`Stopped ${formatTime(stoppedAt)}. Decision: ship One-page checkout (treatment), released to everyone (the winner is served to everyone).`);
    expect(screen.getByRole('heading', { level: 1, name: 'Checkout' }).parentElement?.textContent).toContain(`stopped ${formatTime(stoppedAt)}`);
    expect(await screen.findByText(/the experiment stopped before any unit was exposed to it/)).toBeTruthy();
    expect(screen.queryByText(/traffic appears here once SDKs expose units/)).toBeNull();
  });

  it('says a stopped experiment rolled back, or shipped a winner it did not release', async () => {
    const base = experiment(4, []).definition;
    const show = async (patch: Partial<Experiment>): Promise<string> => {
      const { client } = fakeApi(experimentBackend(storedOf<Experiment>({ ...base, status: 'stopped', stoppedAt: '2026-11-24T09:30:00Z', ...patch }, { version: 4 })).respond);
      const view = render(
        <WithSession client={client} me={user()} environments={[PRODUCTION]}>
          <ExperimentPage experimentKey="checkout" />
        </WithSession>,
      );
      const text = (await screen.findByRole('region', { name: 'Decision' })).textContent;
      view.unmount();
      return text;
    };
    expect(await show({ decision: 'rollback' })).toContain('Decision: roll back (keep the control).');
    expect(await show({ decision: 'ship', winner: 'treatment', releaseWinner: false })).toContain('Decision: ship treatment, not released to everyone');
    expect(await show({})).toContain('Decision: none recorded.');
  });

  it('shows "Experiment not found" with the way back to the list for an unknown key', async () => {
    const { client } = fakeApi((req) =>
      req.path === '/api/v1/projects/web/experiments/no-such'
        ? { status: 404, body: { error: { code: 'NOT_FOUND', message: 'experiment "no-such" not found' } } }
        : req.method === 'GET'
          ? { status: 200, body: { items: [] } }
          : undefined,
    );
    render(
      <WithSession client={client} me={user()} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="no-such" />
      </WithSession>,
    );

    expect(await screen.findByRole('heading', { level: 1, name: 'Experiment not found' })).toBeTruthy();
    expect(screen.getByText(/experiment "no-such" not found/)).toBeTruthy();
    expect(screen.getByRole('link', { name: '← All experiments' }).getAttribute('href')).toBe('#/experiments');
    expect(screen.queryByRole('button', { name: 'Try again' })).toBeNull();
  });
});

describe('experiment page guardrails', () => {
  const named = (patch: Partial<Experiment>): Experiment => ({
    ...experiment(4, []).definition,
    variations: [
      { key: 'control', name: 'Control', weight: 0.5, value: 'control' },
      { key: 'treatment', name: 'One-page checkout', weight: 0.5, value: 'treatment' },
    ],
    metrics: { primary: [], secondary: [], guardrails: ['page-load-ms'] },
    ...patch,
  });
  const alert = (patch: Record<string, unknown> = {}) => ({
    id: 7,
    environment: 'production',
    experiment: 'checkout',
    flag: null,
    metric: 'page-load-ms',
    variation: 'treatment',
    control: 'control',
    detectedAt: '2026-11-25T12:00:00.000Z',
    difference: 'relative',
    effect: 0.2308,
    ci: [0.1981, 0.2634],
    pValue: 3.99e-77,
    alpha: 0.05,
    controlUnits: 600,
    treatmentUnits: 600,
    action: 'alert',
    actionAt: null,
    resolvedAt: null,
    resolution: null,
    ...patch,
  });
  const pageLoad = storedOf({ key: 'page-load-ms', name: 'Page load time', type: 'mean' as const, event: 'page-load', higherIsBetter: false });
  /** The alerts endpoint answering `alerts`, and the project's metrics. */
  const withAlerts =
    (alerts: unknown[]): Responder =>
    (req) => {
      if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/alerts')) {
        return { status: 200, body: { items: alerts } };
      }
      return req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/metrics') ? { status: 200, body: { items: [pageLoad] } } : undefined;
    };
  const show = (client: ReturnType<typeof fakeApi>['client'], role: 'owner' | 'viewer' = 'owner') =>
    render(
      <WithSession client={client} me={user({ role })} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );

  it('shows the open guardrail alerts of the experiment in a banner: metric, variation, effect with interval, when, and what the platform did', async () => {
    const running = storedOf(named({ guardrailAction: 'alert' }), { version: 4 });
    const { client, sent } = fakeApi(experimentBackend(running, withAlerts([alert(), alert({ id: 3, metric: 'errors', resolvedAt: '2026-11-24T00:00:00.000Z', resolution: 'experiment no longer running' })])).respond);
    show(client, 'viewer');

    const banner = await screen.findByRole('alert', { name: 'Guardrail alerts' });
    const items = within(banner).getAllByRole('listitem');
    // The resolved alert is not listed.
    expect(items).toHaveLength(1);
    expect(items[0]?.querySelector('p')?.textContent).toBe(
      `Page load time worsened by 23.1% in One-page checkout (treatment) (Production): effect +23.1% [+19.8%, +26.3%], p < 0.001, detected ${formatTime('2026-11-25T12:00:00.000Z')}. Alerted only: the experiment keeps running (its guardrail action is to alert, not to stop).`,
    );
    expect(banner.textContent).toContain('A guardrail metric degraded');
    const asked = new URL(sent.find((r) => r.path.startsWith('/api/v1/projects/web/alerts'))!.path, 'http://x').searchParams;
    expect(asked.get('experiment')).toBe('checkout');
  });

  it('shows whether each open alert is acknowledged, and lets an editor acknowledge one with a comment and withdraw it', async () => {
    const u = userEvent.setup();
    const running = storedOf(named({ guardrailAction: 'alert' }), { version: 4 });
    const seen = alert({ id: 8, metric: 'errors', acknowledgedAt: '2026-11-25T12:30:00.000Z', acknowledgedBy: 'u-ada', acknowledgedByName: 'Ada', acknowledgeComment: 'Rolling back the CDN change' });
    const acknowledged = alert({ acknowledgedAt: '2026-11-25T13:00:00.000Z', acknowledgedBy: 'u-eddie', acknowledgedByName: 'Eddie', acknowledgeComment: 'Seen, investigating' });
    const { client, sent } = fakeApi(
      experimentBackend(running, (req) => {
        if (req.method === 'POST' && req.path === '/api/v1/projects/web/alerts/7/acknowledge') {
          return { status: 200, body: acknowledged };
        }
        if (req.method === 'POST' && req.path === '/api/v1/projects/web/alerts/7/unacknowledge') {
          return { status: 200, body: alert({ acknowledgedAt: null, acknowledgedBy: null, acknowledgedByName: null, acknowledgeComment: null }) };
        }
        return withAlerts([alert(), seen])(req);
      }).respond,
    );
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );

    const banner = await screen.findByRole('alert', { name: 'Guardrail alerts' });
    expect(banner.textContent).toContain('2 guardrail alerts are open: the guardrail checks found a significant change in the harmful direction (sequential test). 1 of 2 are acknowledged.');
    const fresh = within(banner).getByRole('group', { name: 'Acknowledgement of alert 7' });
    expect(within(fresh).getByRole('paragraph').textContent).toBe('New: nobody has acknowledged it yet.');
    expect(within(within(banner).getByRole('group', { name: 'Acknowledgement of alert 8' })).getByRole('paragraph').textContent).toBe(
      `Acknowledged by Ada ${formatTime('2026-11-25T12:30:00.000Z')}: “Rolling back the CDN change”.`,
    );

    await u.click(within(fresh).getByRole('button', { name: 'Acknowledge…' }));
    await u.type(within(fresh).getByRole('textbox', { name: 'Comment (optional)' }), '  Seen, investigating ');
    await u.click(within(fresh).getByRole('button', { name: 'Acknowledge' }));

    await waitFor(() => {
      expect(within(fresh).getByRole('paragraph').textContent).toBe(`Acknowledged by Eddie ${formatTime('2026-11-25T13:00:00.000Z')}: “Seen, investigating”.`);
    });
    expect(sent.find((r) => r.path.endsWith('/alerts/7/acknowledge'))?.body).toEqual({ comment: 'Seen, investigating' });
    expect(banner.textContent).toContain('All are acknowledged.');

    await u.click(within(fresh).getByRole('button', { name: 'Un-acknowledge' }));
    await waitFor(() => {
      expect(within(fresh).getByRole('paragraph').textContent).toBe('New: nobody has acknowledged it yet.');
    });
    expect(sent.filter((r) => r.method === 'POST' && r.path === '/api/v1/projects/web/alerts/7/unacknowledge')).toHaveLength(1);
  });

  it('shows a viewer the acknowledgement state but no way to change it, and says why an acknowledgement was refused', async () => {
    const u = userEvent.setup();
    const running = storedOf(named({ guardrailAction: 'alert' }), { version: 4 });
    const viewer = fakeApi(experimentBackend(running, withAlerts([alert(), alert({ id: 8, metric: 'errors', acknowledgedAt: '2026-11-25T12:30:00.000Z', acknowledgedBy: 'u-ada', acknowledgedByName: 'Ada', acknowledgeComment: null })])).respond);
    const view = show(viewer.client, 'viewer');

    const banner = await screen.findByRole('alert', { name: 'Guardrail alerts' });
    const acknowledge = within(banner).getByRole('button', { name: 'Acknowledge…' });
    const withdraw = within(banner).getByRole('button', { name: 'Un-acknowledge' });
    expect([acknowledge.hasAttribute('disabled'), withdraw.hasAttribute('disabled')]).toEqual([true, true]);
    expect(acknowledge.getAttribute('title')).toBe('Viewers cannot change experiments');
    expect(within(banner).getByRole('group', { name: 'Acknowledgement of alert 8' }).textContent).toContain(`Acknowledged by Ada ${formatTime('2026-11-25T12:30:00.000Z')}.`);
    view.unmount();

    // Resolved since the page read it: the API's 409 is shown where the button was.
    const resolved = fakeApi(
      experimentBackend(running, (req) =>
        req.method === 'POST' && req.path.endsWith('/alerts/7/acknowledge')
          ? { status: 409, body: { error: { code: 'INVALID_STATE', message: 'alert 7 was resolved 2026-11-25T12:45:00.000Z (experiment no longer running): only an open alert can be acknowledged' } } }
          : withAlerts([alert()])(req),
      ).respond,
    );
    show(resolved.client, 'owner');
    const group = within(await screen.findByRole('alert', { name: 'Guardrail alerts' })).getByRole('group', { name: 'Acknowledgement of alert 7' });
    await u.click(within(group).getByRole('button', { name: 'Acknowledge…' }));
    await u.click(within(group).getByRole('button', { name: 'Acknowledge' }));
    expect((await within(group).findByText(/only an open alert can be acknowledged/)).textContent).toContain('alert 7 was resolved');
    expect(resolved.sent.find((r) => r.path.endsWith('/alerts/7/acknowledge'))?.body).toEqual({});
  });

  it('says when the platform could not stop the experiment, and shows no banner without open alerts', async () => {
    const running = storedOf(named({ guardrailAction: 'stop' }), { version: 4 });
    const failed = fakeApi(experimentBackend(running, withAlerts([alert({ action: 'stop-failed', actionAt: '2026-11-25T12:01:00.000Z', flag: 'new-checkout' })])).respond);
    const view = show(failed.client);
    expect((await screen.findByRole('alert', { name: 'Guardrail alerts' })).textContent).toContain(
      `The platform tried to stop the experiment and roll back, but the stop failed ${formatTime('2026-11-25T12:01:00.000Z')}; the next check tries again.`,
    );
    view.unmount();

    const quiet = fakeApi(experimentBackend(running, withAlerts([])).respond);
    show(quiet.client);
    await screen.findByRole('table', { name: 'Units per variation' });
    expect(screen.queryByRole('alert', { name: 'Guardrail alerts' })).toBeNull();
  });

  it('says a stop the guardrails made was theirs, naming the metric, how much it worsened and in which variation', async () => {
    const stoppedAt = '2026-11-25T12:01:00.000Z';
    const stopped = { ...storedOf(named({ guardrailAction: 'stop', status: 'stopped', stoppedAt, decision: 'rollback' }), { version: 5 }), updatedBy: 'system:guardrails' };
    const stoppedAlert = alert({ action: 'stopped', actionAt: stoppedAt, resolvedAt: stoppedAt, resolution: 'experiment stopped by guardrails' });
    const { client } = fakeApi(experimentBackend(stopped, withAlerts([stoppedAlert])).respond);
    const view = show(client);

    await waitFor(() => {
      expect(screen.getByRole('region', { name: 'Decision' }).textContent).toMatch(/^Stopped by guardrails/);
    });
    const decision = screen.getByRole('region', { name: 'Decision' });
    expect(within(decision).getByRole('paragraph').textContent).toBe(
      `Stopped by guardrails: Page load time worsened by 23.1% in One-page checkout (treatment) (${formatTime(stoppedAt)}). Decision: roll back (keep the control).`,
    );
    expect(within(decision).getByRole('listitem').textContent).toBe(
      `Page load time in One-page checkout (treatment) (Production): effect +23.1% [+19.8%, +26.3%], p < 0.001, detected ${formatTime('2026-11-25T12:00:00.000Z')}.`,
    );
    // A resolved alert is not an open one: no banner.
    expect(screen.queryByRole('alert', { name: 'Guardrail alerts' })).toBeNull();
    view.unmount();

    // Without its alerts (the request failed), the guardrails actor as last writer still says who stopped it.
    const blind = fakeApi(experimentBackend(stopped, (req) => (req.path.startsWith('/api/v1/projects/web/alerts') ? { status: 500, body: { error: { code: 'INTERNAL', message: 'boom' } } } : undefined)).respond);
    show(blind.client);
    expect(await screen.findByText(/The guardrail alerts could not be loaded/)).toBeTruthy();
    expect(screen.getByRole('region', { name: 'Decision' }).textContent).toContain(`Stopped by guardrails (${formatTime(stoppedAt)}): a guardrail metric worsened significantly. Decision: roll back`);
  });

  it('does not call a person\'s stop after an earlier guardrail stop and a resume a guardrail stop', async () => {
    const stoppedAt = '2026-11-26T09:00:00.000Z';
    const stopped = storedOf(
      named({ guardrailAction: 'stop', status: 'stopped', stoppedAt, decision: 'inconclusive', pauses: [{ stoppedAt: '2026-11-25T12:01:00.000Z', resumedAt: '2026-11-25T15:00:00.000Z' }] }),
      { version: 7 },
    );
    const old = alert({ action: 'stopped', actionAt: '2026-11-25T12:01:00.000Z', resolvedAt: '2026-11-25T12:01:00.000Z' });
    const { client, sent } = fakeApi(experimentBackend(stopped, withAlerts([old])).respond);
    show(client);

    await waitFor(() => { expect(sent.some((r) => r.path.startsWith('/api/v1/projects/web/metrics'))).toBe(true); });
    expect((await screen.findByRole('region', { name: 'Decision' })).textContent).toBe(`Stopped ${formatTime(stoppedAt)}. Decision: inconclusive.`);
  });

  it('warns in the Resume dialog that guardrails stopped the experiment and will stop it again, and still resumes it', async () => {
    const u = userEvent.setup();
    const stoppedAt = '2026-11-25T12:01:00.000Z';
    const stopped = { ...storedOf(named({ guardrailAction: 'stop', status: 'stopped', stoppedAt, decision: 'rollback' }), { version: 5 }), updatedBy: 'system:guardrails' };
    const stoppedAlert = alert({ action: 'stopped', actionAt: stoppedAt, resolvedAt: stoppedAt, resolution: 'experiment stopped by guardrails' });
    const { client, sent } = fakeApi(
      experimentBackend(stopped, (req) =>
        req.method === 'POST' && req.path.endsWith('/resume') ? { status: 200, body: storedOf(named({ guardrailAction: 'stop', status: 'running' }), { version: 6 }) } : withAlerts([stoppedAlert])(req),
      ).respond,
    );
    show(client);

    await screen.findByText(/^Stopped by guardrails/);
    await u.click(screen.getByRole('button', { name: 'Resume…' }));
    const dialog = screen.getByRole('dialog', { name: 'Resume checkout?' });
    expect(within(dialog).getByRole('alert').textContent).toBe(
      'Guardrails stopped this experiment because Page load time worsened in One-page checkout (treatment); once resumed, the checks judge only the units exposed from then on, and stop it again if those show the same harm.',
    );
    await u.click(within(dialog).getByRole('button', { name: 'Resume experiment' }));
    await screen.findByRole('button', { name: 'Decide…' });
    expect(sent.find((r) => r.path.endsWith('/resume'))?.ifMatch).toBe('"5"');
  });

  it('warns before resuming while guardrail alerts are open, and says nothing for an experiment without them', async () => {
    const u = userEvent.setup();
    const stopped = storedOf(named({ guardrailAction: 'alert', status: 'stopped', stoppedAt: '2026-11-25T12:01:00.000Z', decision: 'inconclusive' }), { version: 5 });
    const open = fakeApi(experimentBackend(stopped, withAlerts([alert()])).respond);
    const view = show(open.client);
    await screen.findByRole('alert', { name: 'Guardrail alerts' });
    await u.click(screen.getByRole('button', { name: 'Resume…' }));
    expect(within(screen.getByRole('dialog', { name: 'Resume checkout?' })).getByRole('alert').textContent).toBe(
      'Guardrail alerts are open because Page load time worsened in One-page checkout (treatment); its guardrail action is now to alert only, so it keeps running, but the alert will be raised again unless the cause is fixed.',
    );
    view.unmount();

    const none = fakeApi(experimentBackend(stopped, withAlerts([])).respond);
    show(none.client);
    await u.click(await screen.findByRole('button', { name: 'Resume…' }));
    expect(within(screen.getByRole('dialog', { name: 'Resume checkout?' })).queryByRole('alert')).toBeNull();
  });
});

describe('experiment page dimensions dialog', () => {
  const show = (respond: Responder) => {
    const api = fakeApi(respond);
    render(
      <WithSession client={api.client} me={user()} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );
    return api;
  };

  it('checks the dimensions before saving and says in plain words what is wrong: too many, not attribute names, listed twice', async () => {
    const u = userEvent.setup();
    const backend = experimentBackend(experiment(2, []));
    const { sent } = show(backend.respond);

    await u.click(await screen.findByRole('button', { name: 'Dimensions…' }));
    const dialog = screen.getByRole('dialog', { name: 'Result dimensions of Checkout' });
    const field = within(dialog).getByRole('textbox', { name: 'Dimensions (comma-separated)' });
    await u.type(field, 'country, a b, $$, plan, country');
    await u.click(within(dialog).getByRole('button', { name: 'Save dimensions' }));

    const problems = within(dialog).getByRole('alert', { name: 'Problems with the dimensions' });
    expect([...problems.querySelectorAll('p')].map((p) => p.textContent)).toEqual([
      '"a b" is not an attribute name: use letters, digits, "_", "-" and "." for nested fields, starting with a letter or "_".',
      '"$$" is not an attribute name: use letters, digits, "_", "-" and "." for nested fields, starting with a letter or "_".',
      'country is listed twice.',
    ]);
    expect(field.getAttribute('aria-invalid')).toBe('true');

    await u.clear(field);
    await u.type(field, Array.from({ length: 11 }, (_, i) => `attr${i}`).join(', '));
    expect(within(dialog).getByRole('alert', { name: 'Problems with the dimensions' }).textContent).toBe('At most 10 dimensions: 11 are listed. Remove 1.');
    await u.type(field, `, ${'x'.repeat(257)}`);
    expect(within(dialog).getByRole('alert', { name: 'Problems with the dimensions' }).textContent).toContain(`"${'x'.repeat(40)}…" is too long for an attribute name (257 characters; at most 256).`);
    expect(sent.filter((r) => r.method === 'PUT')).toEqual([]);

    await u.clear(field);
    await u.type(field, 'country, user.plan, device_type');
    expect(within(dialog).queryByRole('alert')).toBeNull();
    await u.click(within(dialog).getByRole('button', { name: 'Save dimensions' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    expect(backend.current().definition.dimensions).toEqual(['country', 'user.plan', 'device_type']);
  });

  it('puts the API\'s refusal of the dimensions in plain words instead of its schema messages', async () => {
    const u = userEvent.setup();
    const issues = [
      { path: 'body.dimensions', message: 'Too big: expected array to have <=10 items' },
      { path: 'body.dimensions[2]', message: 'Too big: expected string to have <=256 characters' },
    ];
    const refusing: Responder = (req) =>
      req.method === 'PUT' ? { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: `invalid body: body.dimensions[2]: ${issues[1]!.message}`, details: { issues } } } } : undefined;
    show(experimentBackend(experiment(2, []), refusing).respond);

    await u.click(await screen.findByRole('button', { name: 'Dimensions…' }));
    const dialog = screen.getByRole('dialog', { name: 'Result dimensions of Checkout' });
    await u.type(within(dialog).getByRole('textbox', { name: 'Dimensions (comma-separated)' }), 'country, plan, device');
    await u.click(within(dialog).getByRole('button', { name: 'Save dimensions' }));

    const note = await within(dialog).findByRole('alert');
    expect(note.textContent).toBe('The dimensions were not saved. At most 10 dimensions. "device" is too long for an attribute name (at most 256 characters).');
    expect(note.textContent).not.toContain('invalid body');
  });
});

describe('experiment page deletion', () => {
  const stopped = (environments: string[]) => storedOf<Experiment>({ ...experiment(4, []).definition, environments, status: 'stopped', stoppedAt: '2026-11-24T00:00:00Z', decision: 'inconclusive' }, { version: 4 });
  const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 1 };
  const show = (client: ReturnType<typeof fakeApi>['client'], role: 'owner' | 'editor' | 'viewer') =>
    render(
      <WithSession client={client} me={user({ role })} environments={[PRODUCTION, DEVELOPMENT]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );

  afterEach(() => {
    window.location.hash = '';
  });

  it('deletes a stopped experiment after saying what goes for good, from the version it was opened at, then goes to the list', async () => {
    const u = userEvent.setup();
    const backend = experimentBackend(stopped(['production']), (req) => (req.method === 'DELETE' ? { status: 204 } : undefined));
    const { client, sent } = fakeApi(backend.respond);
    show(client, 'owner');

    await u.click(await screen.findByRole('button', { name: 'Delete…' }));
    const dialog = screen.getByRole('dialog', { name: 'Delete checkout?' });
    expect(dialog.textContent).toContain('Deleting is permanent');
    expect(dialog.textContent).toContain('To keep the results but take it out of the experiments list, archive it instead.');
    expect(sent.some((r) => r.method === 'DELETE')).toBe(false);
    await u.click(within(dialog).getByRole('button', { name: 'Delete experiment' }));

    await waitFor(() => { expect(window.location.hash).toBe('#/experiments'); });
    const del = sent.find((r) => r.method === 'DELETE');
    expect(del?.path).toBe('/api/v1/projects/web/experiments/checkout');
    expect(del?.ifMatch).toBe('"4"');
  });

  it('disables deleting with the reason: a viewer, a running experiment, an editor where results in production would go', async () => {
    const reasonFor = async (experimentStored: Stored<Experiment>, role: 'owner' | 'editor' | 'viewer'): Promise<string | null> => {
      const { client } = fakeApi(experimentBackend(experimentStored).respond);
      const view = show(client, role);
      const button = await screen.findByRole('button', { name: 'Delete…' });
      const reason = (button as HTMLButtonElement).disabled ? button.getAttribute('aria-description') : null;
      view.unmount();
      return reason;
    };
    expect(await reasonFor(stopped(['production']), 'viewer')).toBe('Viewers cannot change experiments');
    expect(await reasonFor(storedOf({ ...experiment(4, []).definition, environments: ['development'] }, { version: 4 }), 'owner')).toBe('Stop the experiment before deleting it');
    expect(await reasonFor(stopped(['production']), 'editor')).toBe('Only an owner or admin can delete an experiment that ran in Production (its results there go for good)');
    expect(await reasonFor(stopped(['development']), 'editor')).toBeNull();
    expect(await reasonFor(stopped(['production']), 'owner')).toBeNull();
  });

  it('shows the API\'s refusal of a deletion on the page', async () => {
    const u = userEvent.setup();
    const refusing: Responder = (req) => (req.method === 'DELETE' ? { status: 409, body: { error: { code: 'INVALID_STATE', message: 'experiment is running; stop it first' } } } : undefined);
    const { client } = fakeApi(experimentBackend(stopped(['development']), refusing).respond);
    show(client, 'owner');

    await u.click(await screen.findByRole('button', { name: 'Delete…' }));
    await u.click(screen.getByRole('button', { name: 'Delete experiment' }));
    expect((await screen.findByRole('alert')).textContent).toContain('experiment is running; stop it first');
    expect(window.location.hash).not.toBe('#/experiments');
  });
});

describe('experiment page archiving', () => {
  const stopped = (): Stored<Experiment> =>
    storedOf<Experiment>({ ...experiment(4, []).definition, status: 'stopped', stoppedAt: '2026-11-24T00:00:00Z', decision: 'inconclusive' }, { version: 4 });
  /** The API's replace: `archived` kept when true, stored as no field otherwise. */
  const backend = (initial: Stored<Experiment>) => {
    let current = initial;
    const experimentBackendWithArchive = experimentBackend(initial, (req) => {
      if (req.method === 'PUT' && req.path === '/api/v1/projects/web/experiments/checkout') {
        if (req.ifMatch !== `"${current.version}"`) {
          return { status: 409, body: { error: { code: 'VERSION_CONFLICT', message: 'changed by someone else', details: { currentVersion: current.version } } } };
        }
        const { archived, ...rest } = req.body as Experiment;
        current = storedOf<Experiment>(archived === true ? { ...rest, archived } : rest, { version: current.version + 1, archived: archived === true });
        return { status: 200, body: current };
      }
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/checkout') {
        return { status: 200, body: current };
      }
      return undefined;
    });
    return experimentBackendWithArchive.respond;
  };
  const show = (client: ReturnType<typeof fakeApi>['client'], role: 'owner' | 'viewer' = 'owner') =>
    render(
      <WithSession client={client} me={user({ role })} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );
  const reason = (button: HTMLElement): string | null => ((button as HTMLButtonElement).disabled ? button.getAttribute('aria-description') : null);

  it('archives a stopped experiment after a confirmation, from the version it was opened at, says so, and holds back what an archived one cannot do; then unarchives it', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi(backend(stopped()));
    show(client);

    await u.click(await screen.findByRole('button', { name: 'Archive…' }));
    const dialog = screen.getByRole('dialog', { name: 'Archive checkout?' });
    expect(dialog.textContent).toContain('Its results are kept');
    expect(sent.some((r) => r.method === 'PUT')).toBe(false);
    await u.click(within(dialog).getByRole('button', { name: 'Archive experiment' }));

    await screen.findByText('Archived checkout (version 5).');
    const put = sent.find((r) => r.method === 'PUT');
    expect(put?.ifMatch).toBe('"4"');
    expect(put?.body).toMatchObject({ key: 'checkout', status: 'stopped', archived: true });
    expect(screen.getByText('archived', { selector: '.badge' })).toBeTruthy();
    expect(screen.getByRole('note').textContent).toContain('This experiment is archived');
    expect(reason(screen.getByRole('button', { name: 'Resume…' }))).toBe('Unarchive the experiment to resume it');
    expect(reason(screen.getByRole('button', { name: 'Settings…' }))).toBe('Unarchive the experiment to change it');
    expect(reason(screen.getByRole('button', { name: 'Dimensions…' }))).toBe('Unarchive the experiment to change it');
    // The results stay on the page.
    expect(screen.getByRole('table', { name: 'Units per variation' })).toBeTruthy();

    await u.click(screen.getByRole('button', { name: 'Unarchive…' }));
    await u.click(within(screen.getByRole('dialog', { name: 'Unarchive checkout?' })).getByRole('button', { name: 'Unarchive experiment' }));
    await screen.findByText('Unarchived checkout (version 6).');
    const unarchive = sent.filter((r) => r.method === 'PUT')[1];
    expect([unarchive?.ifMatch, (unarchive?.body as Experiment).archived]).toEqual(['"5"', false]);
    expect(screen.queryByText('archived', { selector: '.badge' })).toBeNull();
    expect(reason(screen.getByRole('button', { name: 'Resume…' }))).toBeNull();
  });

  it('disables archiving with the reason: a running experiment is stopped first, a viewer changes nothing', async () => {
    const running = fakeApi(backend(experiment(2, [])));
    const view = show(running.client);
    expect(reason(await screen.findByRole('button', { name: 'Archive…' }))).toBe('Stop the experiment before archiving it');
    view.unmount();

    const viewer = fakeApi(backend(stopped()));
    show(viewer.client, 'viewer');
    expect(reason(await screen.findByRole('button', { name: 'Archive…' }))).toBe('Viewers cannot change experiments');
  });

  it('keeps the pressed button focusable but busy while the archive is in flight, ignoring further clicks', async () => {
    const u = userEvent.setup();
    const answer = fakeFetch(backend(stopped()));
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => { release = resolve; });
    const fetchHeld: typeof fetch = async (input, init) => {
      if (init?.method === 'PUT') {
        await held;
      }
      return answer.fetch(input, init);
    };
    show(new XpApiClient({ apiUrl: 'http://localhost:3000', token: 'test-token', fetch: fetchHeld }));

    await u.click(await screen.findByRole('button', { name: 'Archive…' }));
    await u.click(screen.getByRole('button', { name: 'Archive experiment' }));
    const busy = await screen.findByRole('button', { name: 'Archive…' });
    await waitFor(() => { expect(busy.getAttribute('aria-disabled')).toBe('true'); });
    expect([(busy as HTMLButtonElement).disabled, busy.getAttribute('aria-busy')]).toEqual([false, 'true']);
    await u.click(busy);
    expect(screen.queryByRole('dialog')).toBeNull();

    release();
    await screen.findByText('Archived checkout (version 5).');
    expect(screen.getByRole('button', { name: 'Unarchive…' }).getAttribute('aria-disabled')).toBeNull();
    expect(answer.sent.filter((r) => r.method === 'PUT')).toHaveLength(1);
  });

  it("shows the API's refusal of an archive on the page, and the button as it was", async () => {
    const u = userEvent.setup();
    const refusing: Responder = (req) =>
      req.method === 'PUT' ? { status: 409, body: { error: { code: 'INVALID_STATE', message: 'experiment "checkout" is running; stop it first (POST …/experiments/checkout/stop), then archive it' } } } : undefined;
    const { client } = fakeApi(experimentBackend(stopped(), refusing).respond);
    show(client);

    await u.click(await screen.findByRole('button', { name: 'Archive…' }));
    await u.click(screen.getByRole('button', { name: 'Archive experiment' }));
    expect((await screen.findByRole('alert')).textContent).toContain('is running; stop it first');
    const button = screen.getByRole('button', { name: 'Archive…' });
    expect(button.getAttribute('aria-disabled')).toBeNull();
  });
});

describe('experiment page: guardrail action, holdout, namespace and analysis plan', () => {
  const HOLDOUTS: Stored<Holdout>[] = [
    storedOf<Holdout>({ key: 'global-2026', name: 'Global 2026', hashAttribute: 'id', coverage: 0.05 }),
    storedOf<Holdout>({ key: 'q4', name: 'Q4', hashAttribute: 'id', coverage: 0.1 }),
  ];
  /** A running experiment holding 0–30% of namespace "checkout" in production. */
  const BANNER = storedOf(abExperiment('banner', { name: 'Banner', status: 'running', environments: ['production'], namespace: { id: 'checkout', range: [0, 0.3] } }));
  /** The project's lists: its holdouts, and its experiments (`self` as stored, and banner). */
  const lists =
    (self: () => Stored<Experiment>): Responder =>
    (req) => {
      if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/holdouts?')) {
        return { status: 200, body: { items: HOLDOUTS } };
      }
      if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/experiments?')) {
        return { status: 200, body: { items: [self(), BANNER] } };
      }
      return undefined;
    };
  const render5 = (definition: Partial<Experiment>, extra: Responder = () => undefined): { backend: ReturnType<typeof experimentBackend>; sent: ReturnType<typeof fakeApi>['sent'] } => {
    const initial = storedOf(abExperiment('checkout', { name: 'Checkout', status: 'running', startedAt: '2026-11-20T00:00:00Z', environments: ['production'], ...definition }), { version: 5 });
    // The list answers the experiment as stored now (the closure runs after the backend exists).
    const backend: ReturnType<typeof experimentBackend> = experimentBackend(initial, (req) => extra(req) ?? lists(() => backend.current())(req));
    const { client, sent } = fakeApi(backend.respond);
    render(
      <WithSession client={client} me={user({ role: 'editor' })} environments={[PRODUCTION]}>
        <ExperimentPage experimentKey="checkout" />
      </WithSession>,
    );
    return { backend, sent };
  };
  const select = (name: string): HTMLSelectElement => screen.getByRole<HTMLSelectElement>('combobox', { name });
  const described = (el: HTMLElement): string => document.getElementById(el.getAttribute('aria-describedby') ?? '')?.textContent ?? '';

  it('shows the current guardrail action, holdout and namespace on the page and in Settings…, and saves changes with If-Match', async () => {
    const u = userEvent.setup();
    const { backend, sent } = render5({ guardrailAction: 'stop', holdout: 'global-2026', namespace: { id: 'checkout', range: [0.3, 0.6] } });
    const stored = backend.current().definition;

    const summary = await screen.findByRole('region', { name: 'Guardrail action, holdout and namespace' });
    expect(summary.textContent).toBe('Guardrail action: stop and roll back to the control · Holdout: global-2026 · Namespace: checkout 30%–60%');

    await u.click(screen.getByRole('button', { name: 'Settings…' }));
    const dialog = screen.getByRole('dialog', { name: 'Settings of Checkout' });
    expect(select('When a guardrail degrades').value).toBe('stop');
    await waitFor(() => { expect([...select('Holdout').options].map((o) => o.text)).toEqual(['None', 'Global 2026 (global-2026, 5% held out)', 'Q4 (q4, 10% held out)']); });
    expect(select('Holdout').value).toBe('global-2026');
    expect(within(dialog).getByRole<HTMLInputElement>('combobox', { name: 'Namespace' }).value).toBe('checkout');
    expect(within(dialog).getByRole<HTMLInputElement>('spinbutton', { name: 'Range start (%)' }).value).toBe('30');
    const end = within(dialog).getByRole<HTMLInputElement>('spinbutton', { name: 'Range end (%)' });
    expect(end.value).toBe('60');
    // The others' ranges in the namespace: the experiment itself is not one of them.
    expect(within(within(dialog).getByRole('list', { name: 'Ranges in namespace checkout' })).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
      'Banner (banner): 0%–30%, running in production',
    ]);

    await u.selectOptions(select('When a guardrail degrades'), 'alert');
    await u.selectOptions(select('Holdout'), '');
    fireEvent.change(end, { target: { value: '75' } });
    await u.click(within(dialog).getByRole('button', { name: 'Save settings' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });

    const puts = sent.filter((r) => r.method === 'PUT');
    expect(puts.map((r) => r.ifMatch)).toEqual(['"5"']);
    const { holdout: _holdout, ...withoutHoldout } = stored;
    expect(puts[0]?.body).toEqual({ ...withoutHoldout, guardrailAction: 'alert', namespace: { id: 'checkout', range: [0.3, 0.75] } });
    expect(screen.getByRole('region', { name: 'Guardrail action, holdout and namespace' }).textContent).toBe('Guardrail action: alert only · Namespace: checkout 30%–75%');
  });

  it('keeps an absent guardrail action, holdout and namespace absent when Settings… saves another change', async () => {
    const u = userEvent.setup();
    const { backend, sent } = render5({});
    const stored = backend.current().definition;
    expect((await screen.findByRole('region', { name: 'Guardrail action, holdout and namespace' })).textContent).toBe('Guardrail action: alert only');

    await u.click(screen.getByRole('button', { name: 'Settings…' }));
    expect(select('When a guardrail degrades').value).toBe('alert');
    expect(select('Holdout').value).toBe('');
    expect(screen.getByRole<HTMLInputElement>('combobox', { name: 'Namespace' }).value).toBe('');
    await u.click(screen.getByRole('checkbox', { name: 'Available to client-side SDKs (browsers, mobile apps)' }));
    await u.click(screen.getByRole('button', { name: 'Save settings' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });

    const put = sent.find((r) => r.method === 'PUT');
    expect(put?.ifMatch).toBe('"5"');
    expect(put?.body).toEqual({ ...stored, clientSide: false });
  });

  it('shows the API\'s refusal of an overlapping range under the range field', async () => {
    const u = userEvent.setup();
    const refusal: Responder = (req) =>
      req.method === 'PUT'
        ? {
            status: 400,
            body: {
              error: {
                code: 'VALIDATION_FAILED',
                message: 'namespace "checkout": range [0.2, 0.5) overlaps running experiments ("banner" holds [0, 0.3)), so units would be in both; choose a free range or stop the other first',
                details: { issues: [{ path: 'namespace.range', message: 'overlaps "banner" in namespace "checkout"' }] },
              },
            },
          }
        : undefined;
    const { sent } = render5({}, refusal);
    await u.click(await screen.findByRole('button', { name: 'Settings…' }));
    const dialog = screen.getByRole('dialog', { name: 'Settings of Checkout' });
    await u.type(within(dialog).getByRole('combobox', { name: 'Namespace' }), 'checkout');
    const start = within(dialog).getByRole('spinbutton', { name: 'Range start (%)' });
    fireEvent.change(start, { target: { value: '20' } });
    fireEvent.change(within(dialog).getByRole('spinbutton', { name: 'Range end (%)' }), { target: { value: '50' } });
    await within(dialog).findByRole('list', { name: 'Ranges in namespace checkout' });
    expect(within(dialog).getByText(/^Free while the running ones run:/).textContent).toBe('Free while the running ones run: 30%–100%.');
    expect(within(dialog).getByRole('status').textContent).toMatch(/^This range overlaps banner \(0%–30%\)/);
    expect(start.getAttribute('aria-invalid')).toBeNull();

    await u.click(within(dialog).getByRole('button', { name: 'Save settings' }));
    await waitFor(() => { expect(start.getAttribute('aria-invalid')).toBe('true'); });
    expect(described(start)).toBe('The API refused this range: overlaps "banner" in namespace "checkout".');
    expect(sent.find((r) => r.method === 'PUT')?.body).toMatchObject({ namespace: { id: 'checkout', range: [0.2, 0.5] } });
    expect(screen.getByRole('dialog', { name: 'Settings of Checkout' })).toBeTruthy();
  });

  it("starts the results' test and CUPED toggles from the saved analysis plan, and asks for what they show", async () => {
    const u = userEvent.setup();
    const { sent } = render5({ analysis: { sequential: true, cuped: false } });
    const sequential = await screen.findByRole<HTMLInputElement>('switch', { name: 'Sequential (safe to peek)' });
    const cuped = screen.getByRole<HTMLInputElement>('switch', { name: 'CUPED' });
    expect([sequential.checked, cuped.checked]).toEqual([true, false]);
    await waitFor(() => { expect(sent.some((r) => r.path.includes('/results?'))).toBe(true); });
    const asked = (): URLSearchParams => new URL(sent.filter((r) => r.path.includes('/results?')).at(-1)!.path, 'http://x').searchParams;
    expect([asked().get('sequential'), asked().get('cuped')]).toEqual(['true', 'false']);

    await u.click(sequential);
    await waitFor(() => { expect(asked().get('sequential')).toBe('false'); });
    expect(asked().get('cuped')).toBe('false');
  });

  it('edits the analysis plan in Settings…, checks α in plain words, and saves only the options changed', async () => {
    const u = userEvent.setup();
    const { backend, sent } = render5({ analysis: { sequential: true } });
    const stored = backend.current().definition;
    await u.click(await screen.findByRole('button', { name: 'Settings…' }));
    const dialog = screen.getByRole('dialog', { name: 'Settings of Checkout' });
    const plan = within(dialog).getByRole('group', { name: 'Analysis plan' });
    const alpha = within(plan).getByRole<HTMLInputElement>('spinbutton', { name: 'Significance level α' });
    expect([select('Test').value, alpha.value, select('Multiple-comparison correction').value, within(plan).getByRole<HTMLInputElement>('checkbox', { name: 'CUPED' }).checked]).toEqual(['sequential', '0.05', 'holm', true]);

    fireEvent.change(alpha, { target: { value: '0' } });
    expect(described(alpha)).toBe('Significance level α: 0 is not between 0 and 1 (both excluded); 0.05 is usual.');
    expect(within(dialog).getByRole('button', { name: 'Save settings' })).toHaveProperty('disabled', true);
    fireEvent.change(alpha, { target: { value: '0.1' } });
    await u.selectOptions(select('Multiple-comparison correction'), 'none');
    await u.click(within(dialog).getByRole('button', { name: 'Save settings' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });

    expect(sent.find((r) => r.method === 'PUT')?.body).toEqual({ ...stored, analysis: { sequential: true, alpha: 0.1, correction: 'none' } });
  });

  it('checks the range in Settings… and saves nothing until it is right', async () => {
    const u = userEvent.setup();
    const { sent } = render5({ namespace: { id: 'checkout', range: [0.3, 0.6] } });
    await u.click(await screen.findByRole('button', { name: 'Settings…' }));
    const start = screen.getByRole('spinbutton', { name: 'Range start (%)' });
    const save = screen.getByRole('button', { name: 'Save settings' });

    fireEvent.change(start, { target: { value: '70' } });
    expect(described(start)).toBe('Range: the start (70%) must be below the end (60%).');
    expect(save).toHaveProperty('disabled', true);
    fireEvent.change(start, { target: { value: '101' } });
    expect(described(start)).toBe('Range start: 101% is not between 0 and 100%.');
    fireEvent.change(start, { target: { value: '' } });
    expect(described(start)).toBe('Range start: enter a percentage from 0 to 100.');
    expect(save).toHaveProperty('disabled', true);
    await u.click(save);
    expect(sent.filter((r) => r.method === 'PUT')).toEqual([]);

    fireEvent.change(start, { target: { value: '40' } });
    expect(save).toHaveProperty('disabled', false);
  });

  it('edits the unit of a draft in Settings…, and saves it with its fallback', async () => {
    const u = userEvent.setup();
    const { backend, sent } = render5({ status: 'draft', startedAt: undefined });
    const stored = backend.current().definition;
    await u.click(await screen.findByRole('button', { name: 'Settings…' }));
    const dialog = screen.getByRole('dialog', { name: 'Settings of Checkout' });
    const unit = within(dialog).getByRole<HTMLInputElement>('combobox', { name: 'Unit (randomise by)' });
    expect(unit.value).toBe('id');
    expect(unit.readOnly).toBe(false);
    await u.clear(unit);
    expect(within(dialog).getByRole('button', { name: 'Save settings' })).toHaveProperty('disabled', true);
    await u.type(unit, 'accountId');
    await u.type(within(dialog).getByRole('combobox', { name: 'Fallback attribute' }), 'deviceId');
    expect(within(dialog).getByRole('note', { name: 'Fallback attribute set' })).toBeTruthy();
    await u.click(within(dialog).getByRole('button', { name: 'Save settings' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });

    expect(sent.find((r) => r.method === 'PUT')?.body).toEqual({ ...stored, hashAttribute: 'accountId', fallbackAttribute: 'deviceId' });
    expect(screen.getByRole('region', { name: 'Guardrail action, holdout and namespace' }).textContent).toBe('Unit (randomised by): accountId or deviceId · Guardrail action: alert only');
  });

  it('shows the unit of a started experiment read-only in Settings…, with the reason, and saves other settings without touching it', async () => {
    const u = userEvent.setup();
    const { backend, sent } = render5({ hashAttribute: 'accountId' });
    const stored = backend.current().definition;
    await u.click(await screen.findByRole('button', { name: 'Settings…' }));
    const dialog = screen.getByRole('dialog', { name: 'Settings of Checkout' });
    const unit = within(dialog).getByRole<HTMLInputElement>('combobox', { name: 'Unit (randomise by)' });
    expect(unit.value).toBe('accountId');
    expect(unit.readOnly).toBe(true);
    expect(within(dialog).getByRole<HTMLInputElement>('combobox', { name: 'Fallback attribute' }).readOnly).toBe(true);
    expect(document.getElementById(unit.getAttribute('aria-describedby') ?? '')?.textContent).toMatch(/^Fixed since the experiment started: .*the API refuses the change\. To randomise by another attribute, create a new experiment\./);
    await u.type(unit, 'x');
    expect(unit.value).toBe('accountId');
    await u.click(within(dialog).getByRole('checkbox', { name: 'Available to client-side SDKs (browsers, mobile apps)' }));
    await u.click(within(dialog).getByRole('button', { name: 'Save settings' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    expect(sent.find((r) => r.method === 'PUT')?.body).toEqual({ ...stored, clientSide: false });
  });

  it('names a unit other than the user on the page and where the results count units', async () => {
    render5({ hashAttribute: 'accountId' });
    expect((await screen.findByRole('region', { name: 'Guardrail action, holdout and namespace' })).textContent).toBe('Unit (randomised by): accountId · Guardrail action: alert only');
    const units = await screen.findByRole('table', { name: 'Units per variation' });
    expect(within(units).getAllByRole('columnheader').map((h) => h.textContent)).toEqual(['Variation', 'Units (accountId)', 'Observed share', 'Expected share']);
    expect(screen.getByText(/^Randomised by/).textContent).toBe('Randomised by accountId: each unit counted below is one accountId value.');
    // The user's experiments keep their wording.
    cleanup();
    render5({});
    const plain = await screen.findByRole('table', { name: 'Units per variation' });
    expect(within(plain).getAllByRole('columnheader').map((h) => h.textContent)).toEqual(['Variation', 'Units', 'Observed share', 'Expected share']);
    expect(screen.queryByText(/^Randomised by/)).toBeNull();
  });
});

describe('experiment page while the API is down', () => {
  it('says once that the live refresh failed, not above the page and again in Results, and keeps the filters', async () => {
    const u = userEvent.setup();
    let down = false;
    const beta = storedOf({ key: 'beta', name: 'Beta', type: 'ids' as const, attribute: 'id', values: ['u1'] });
    const { client } = fakeApi((req) => {
      if (down) {
        return { status: 503, body: { error: { code: 'UNAVAILABLE', message: 'The API cannot be reached.' } } };
      }
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/checkout') {
        return { status: 200, body: experiment(2, []) };
      }
      if (req.path.startsWith('/api/v1/projects/web/experiments/checkout/results')) {
        return { status: 200, body: results() };
      }
      if (req.path.startsWith('/api/v1/projects/web/segments')) {
        return { status: 200, body: { items: [beta] } };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    const page = (refreshTick: number) => (
      <SessionContext.Provider value={{ client, user: user(), project: 'web', environments: [PRODUCTION], environment: 'production', setEnvironment: () => undefined, refreshTick }}>
        <ExperimentPage experimentKey="checkout" />
      </SessionContext.Provider>
    );
    const { rerender } = render(page(0));
    await screen.findByRole('table', { name: 'Units per variation' });
    await u.selectOptions(screen.getByRole('combobox', { name: 'Segment' }), 'beta');
    await waitFor(() => { expect(screen.getByRole('table', { name: 'Units per variation' })).toBeTruthy(); });

    down = true;
    rerender(page(1));
    await waitFor(() => { expect(screen.getAllByText(/^Live refresh failed/)).toHaveLength(1); });
    // Still one once every refresh of the page has failed (the results' included).
    await new Promise((r) => setTimeout(r, 50));
    expect(screen.getAllByText(/^Live refresh failed/)).toHaveLength(1);
    expect(screen.getByRole('table', { name: 'Units per variation' })).toBeTruthy();
    expect(screen.getByRole<HTMLSelectElement>('combobox', { name: 'Segment' }).value).toBe('beta');
  });
});
