import '../../../test/dom.js';
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { experimentSchema } from '@xp/shared';
import type { BanditState, Experiment, ExperimentInput, Metric, Stored } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import type { Responder } from '../../../test/fake-api.js';
import { abExperiment, resultsView, storedOf } from '../../../test/fixtures.js';
import { formatTime } from '../../../lib/format.js';
import { BanditPanel, banditDraftOf, checkBandit, nextUpdateText, reasonText, shareChartRows, shareHistory } from '../bandit.js';
import type { BanditDraft } from '../bandit.js';
import ExperimentPage, { PhaseNote, defaultPhase, withBanditSettings } from '../experiment-page.js';
import ExperimentWizard from '../experiment-wizard.js';
import ExperimentsList from '../experiments-list.js';

afterEach(() => {
  cleanup();
  window.location.hash = '';
});

const ON: BanditDraft = { ...banditDraftOf(undefined), enabled: true };

const THREE = [
  { key: 'control', value: 1, weight: 0.4 },
  { key: 'cheaper', value: 2, weight: 0.3 },
  { key: 'bundle', value: 3, weight: 0.3 },
];

/** What the API's schema says of the bandit the draft stands for (its numbers as typed), on an experiment of `variations` variations. */
function schemaAccepts(draft: BanditDraft, primary: string[], variations: number): boolean {
  const input: ExperimentInput = {
    key: 'pricing',
    name: 'Pricing',
    variations: THREE.concat([{ key: 'fourth', value: 4, weight: 0 }]).slice(0, variations),
    metrics: { primary, secondary: ['revenue'], guardrails: [] },
    stickyBucketing: { enabled: true },
    bandit: {
      ...(draft.metric === '' ? {} : { metric: draft.metric }),
      updateEveryHours: Number(draft.updateEveryHours),
      burnInHours: Number(draft.burnInHours),
      minShare: Math.round(Number(draft.minSharePercent) * 100) / 10_000,
    },
  };
  return experimentSchema.safeParse(input).success;
}

describe('the bandit checks', () => {
  it('agree with the API schema on every combination of metric, cadence, burn-in and least share', () => {
    let checked = 0;
    for (const variations of [2, 3, 4]) {
      for (const primary of [[], ['purchase'], ['purchase', 'revenue']]) {
        for (const metric of ['', 'purchase', 'revenue', 'clicks']) {
          for (const updateEveryHours of ['0', '1', '24', '720', '721', '1.5']) {
            for (const burnInHours of ['0', '48', '721', '2.5']) {
              for (const minSharePercent of ['0', '1', '25', '33.33', '34', '50', '51']) {
                const draft: BanditDraft = { enabled: true, metric, updateEveryHours, burnInHours, minSharePercent };
                const { bandit, problems } = checkBandit(draft, { type: 'ab', primary, variations });
                const ours = Object.keys(problems).length === 0;
                expect({ draft, variations, primary, ours }).toEqual({ draft, variations, primary, ours: schemaAccepts(draft, primary, variations) });
                expect(bandit !== undefined).toBe(ours);
                checked++;
              }
            }
          }
        }
      }
    }
    expect(checked).toBe(3 * 3 * 4 * 6 * 4 * 7);
  });

  it('say in plain words what to change, by field', () => {
    expect(checkBandit({ ...ON, minSharePercent: '40' }, { type: 'ab', primary: ['purchase'], variations: 3 }).problems).toEqual({
      minShare: 'Least share per variation: 40% for each of 3 variations is more than all the traffic; at most 33.33%.',
    });
    expect(checkBandit(ON, { type: 'ab', primary: [], variations: 2 }).problems).toEqual({
      metric: 'Bandit metric: a bandit moves traffic towards the best variation on a metric; give a metric the role Primary first.',
    });
    expect(checkBandit({ ...ON, metric: 'revenue' }, { type: 'ab', primary: ['purchase'], variations: 2 }).problems.metric).toBe(
      'Bandit metric: revenue is not a primary metric of this experiment any more; choose one of purchase.',
    );
    expect(checkBandit({ ...ON, updateEveryHours: '', burnInHours: '1.5' }, { type: 'ab', primary: ['purchase'], variations: 2 }).problems).toEqual({
      updateEveryHours: 'Update every: enter a whole number of hours from 1 to 720.',
      burnInHours: 'Burn-in: enter a whole number of hours from 0 to 720 (not 1.5).',
    });
    expect(checkBandit(ON, { type: 'multivariate', primary: ['purchase'], variations: 4 }).problems.type).toContain('use an A/B or split-URL experiment');
    // Off, nothing is checked and nothing is sent.
    expect(checkBandit({ ...ON, enabled: false, minSharePercent: '90' }, { type: 'ab', primary: [], variations: 2 })).toEqual({ problems: {} });
    expect(checkBandit({ ...ON, minSharePercent: '2.5' }, { type: 'ab', primary: ['purchase'], variations: 2 }).bandit).toEqual({ updateEveryHours: 24, burnInHours: 24, minShare: 0.025 });
  });
});

describe('the share history', () => {
  const moved: Experiment = abExperiment('pricing', {
    status: 'running',
    startedAt: '2026-11-20T00:00:00.000Z',
    variations: THREE,
    stickyBucketing: { enabled: true, bucketVersion: 0, minBucketVersion: 0 },
    bandit: { updateEveryHours: 24, burnInHours: 24, minShare: 0.01 },
    splitHistory: [
      { until: '2026-11-21T00:00:00.000Z', shares: { control: 1 / 3, cheaper: 1 / 3, bundle: 1 / 3 } },
      { until: '2026-11-22T00:00:00.000Z', shares: { control: 0.5, cheaper: 0.25, bundle: 0.25 } },
    ],
  });

  it('runs from the start through each recorded split to the current weights, oldest first', () => {
    expect(shareHistory(moved)).toEqual([
      { from: '2026-11-20T00:00:00.000Z', until: '2026-11-21T00:00:00.000Z', shares: { control: 1 / 3, cheaper: 1 / 3, bundle: 1 / 3 } },
      { from: '2026-11-21T00:00:00.000Z', until: '2026-11-22T00:00:00.000Z', shares: { control: 0.5, cheaper: 0.25, bundle: 0.25 } },
      { from: '2026-11-22T00:00:00.000Z', until: null, shares: { control: 0.4, cheaper: 0.3, bundle: 0.3 } },
    ]);
    // Stopped, the current split ends at the stop; never moved, it is the only period.
    const stopped = { ...moved, status: 'stopped' as const, stoppedAt: '2026-11-23T00:00:00.000Z', splitHistory: undefined };
    expect(shareHistory(stopped)).toEqual([{ from: '2026-11-20T00:00:00.000Z', until: '2026-11-23T00:00:00.000Z', shares: { control: 0.4, cheaper: 0.3, bundle: 0.3 } }]);
  });

  it('charts a point at each change and one at the end holding the current shares, for a step line', () => {
    const rows = shareChartRows(shareHistory(moved), ['control', 'cheaper', 'bundle'], '2026-11-22T12:00:00.000Z');
    expect(rows.map((r) => [r.x, r.control, r.cheaper, r.bundle])).toEqual([
      [formatTime('2026-11-20T00:00:00.000Z'), 1 / 3, 1 / 3, 1 / 3],
      [formatTime('2026-11-21T00:00:00.000Z'), 0.5, 0.25, 0.25],
      [formatTime('2026-11-22T00:00:00.000Z'), 0.4, 0.3, 0.3],
      [formatTime('2026-11-22T12:00:00.000Z'), 0.4, 0.3, 0.3],
    ]);
    expect(rows.at(-1)?.range).toBe(`${formatTime('2026-11-22T12:00:00.000Z')} (now)`);
  });
});

describe('bandit settings', () => {
  const draft = abExperiment('pricing', { metrics: { primary: ['purchase'], secondary: [], guardrails: [] } });

  it('turned on, set the bandit and sticky bucketing; changed, only what changed; turned off on a running one, keep the weights', () => {
    const on = withBanditSettings(draft, { ...ON, updateEveryHours: '6' });
    expect([on.bandit, on.stickyBucketing]).toEqual([{ updateEveryHours: 6, burnInHours: 24, minShare: 0.01 }, { enabled: true, bucketVersion: 0, minBucketVersion: 0 }]);
    expect(withBanditSettings(on, banditDraftOf(on.bandit))).toBe(on);

    const running: Experiment = { ...on, status: 'running', startedAt: '2026-11-20T00:00:00.000Z', variations: [{ key: 'control', value: 'c', weight: 0.2 }, { key: 'treatment', value: 't', weight: 0.8 }] };
    const off = withBanditSettings(running, { ...banditDraftOf(running.bandit), enabled: false });
    expect(off.bandit).toBeUndefined();
    expect([off.variations, off.stickyBucketing]).toEqual([running.variations, running.stickyBucketing]);
  });
});

describe('results of a bandit', () => {
  it('are stratified by default, and the note says the estimate weighs each split phase', () => {
    expect([defaultPhase({ bandit: { updateEveryHours: 24, burnInHours: 24, minShare: 0.01 } }), defaultPhase({})]).toEqual(['stratified', 'current']);
    const results = resultsView({
      filters: { from: null, to: null, segment: null, attributes: {}, phase: { index: null, count: 4, from: null, to: null, splitChangedAt: null, pooled: false, stratified: { phases: 4, used: 3, droppedPhases: 1, droppedUnits: 7 } } },
      warnings: [{ code: 'STRATIFIED_PHASES_DROPPED', message: 'phase 0 left out' }],
    });
    render(<PhaseNote results={results} changes={[]} />);
    const note = screen.getByRole('status', { name: 'Split phase' }).textContent;
    expect(note).toContain('Results of all 4 split phases, stratified');
    expect(note).toContain("combined weighted by each phase's units, so the moves of the split do not bias the effects");
    expect(note).toContain('One phase was left out, since some variation had fewer than 2 units in it (7 units).');
    expect(screen.queryByRole('alert', { name: 'Pooled split phases' })).toBeNull();
    expect(screen.queryByRole('list', { name: 'Results warnings' })).toBeNull();
  });
});

function conversion(key: string): Stored<Metric> {
  return storedOf({ key, name: key, type: 'conversion', event: key, higherIsBetter: true, guardrail: false, tags: [] });
}

describe('the wizard\'s bandit option', () => {
  it('checks the bandit before Next, explains it, turns sticky bucketing on and sends both', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && /\/metrics(\?|$)/.test(req.path)) {
        return { status: 200, body: { items: [conversion('purchase'), conversion('revenue')] } };
      }
      if (req.method === 'GET' && /\/segments(\?|$)/.test(req.path)) {
        return { status: 200, body: { items: [] } };
      }
      if (req.method === 'POST' && req.path === '/api/v1/projects/web/experiments') {
        return { status: 201, body: storedOf(abExperiment('pricing')) };
      }
      return undefined;
    });
    render(
      <WithSession client={client} me={user()} environments={[{ key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 0 }]}>
        <ExperimentWizard />
      </WithSession>,
    );
    await u.type(await screen.findByRole('textbox', { name: 'Key' }), 'pricing');
    await u.type(screen.getByRole('textbox', { name: 'Name' }), 'Pricing');
    await u.click(screen.getByRole('button', { name: 'Next' }));
    await screen.findByRole('heading', { name: 'Step 2 of 6: Variations' });
    await u.click(screen.getByRole('button', { name: '+ Variation' }));
    await u.click(screen.getByRole('button', { name: 'Split evenly' }));
    await u.click(screen.getByRole('button', { name: 'Next' }));
    await u.click(screen.getByRole('button', { name: 'Next' }));
    await screen.findByRole('heading', { name: 'Step 4 of 6: Metrics' });

    const toggle = screen.getByRole('checkbox', { name: 'Bandit: move traffic to the best variation automatically' });
    expect(toggle.getAttribute('aria-describedby')).not.toBeNull();
    expect(document.getElementById(toggle.getAttribute('aria-describedby')!)?.textContent).toMatch(/many variations, a short campaign.*less\s+precisely than with a fixed split/s);
    await u.click(toggle);
    expect(screen.getByRole('note', { name: 'Sticky bucketing' }).textContent).toContain('every unit keeps the variation it already saw');
    // No primary metric yet: said under the metric, and Next waits.
    const metric = screen.getByRole('combobox', { name: 'Metric to optimise' });
    expect(metric.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(metric.getAttribute('aria-describedby')!)?.textContent).toContain('give a metric the role Primary first');
    expect(screen.getByRole('button', { name: 'Next' }).getAttribute('aria-disabled')).toBe('true');
    expect(screen.getAllByRole('alert').map((e) => e.textContent)).toEqual([
      'Bandit metric: a bandit moves traffic towards the best variation on a metric; give a metric the role Primary first.',
      'Fix the bandit settings.',
    ]);

    await u.selectOptions(screen.getByRole('combobox', { name: 'Role of purchase' }), 'primary');
    await u.selectOptions(screen.getByRole('combobox', { name: 'Role of revenue' }), 'primary');
    await u.selectOptions(screen.getByRole('combobox', { name: 'Metric to optimise' }), 'revenue');
    const least = screen.getByRole('spinbutton', { name: 'Least share per variation (%)' });
    await u.clear(least);
    await u.type(least, '40');
    expect(document.getElementById(least.getAttribute('aria-describedby')!)?.textContent).toBe(
      'Least share per variation: 40% for each of 3 variations is more than all the traffic; at most 33.33%.',
    );
    expect(screen.getByRole('button', { name: 'Next' }).getAttribute('aria-disabled')).toBe('true');
    await u.clear(least);
    await u.type(least, '5');
    const every = screen.getByRole('spinbutton', { name: 'Update every (hours)' });
    await u.clear(every);
    await u.type(every, '6');
    expect(screen.queryByRole('alert')).toBeNull();

    await u.click(screen.getByRole('button', { name: 'Next' }));
    await u.click(screen.getByRole('button', { name: 'Next' }));
    await u.click(screen.getByRole('button', { name: 'Create draft' }));
    await waitFor(() => { expect(sent.some((r) => r.method === 'POST')).toBe(true); });
    const body = sent.find((r) => r.method === 'POST')?.body as ExperimentInput;
    expect([body.stickyBucketing, body.bandit]).toEqual([{ enabled: true }, { metric: 'revenue', updateEveryHours: 6, burnInHours: 24, minShare: 0.05 }]);
    // What the wizard sends passes the API's schema.
    expect(experimentSchema.safeParse(body).success).toBe(true);
  });
});

const BANDIT_EXPERIMENT = storedOf(
  abExperiment('pricing', {
    name: 'Pricing',
    status: 'running',
    startedAt: '2026-11-20T00:00:00.000Z',
    variations: THREE,
    metrics: { primary: ['purchase'], secondary: [], guardrails: [] },
    stickyBucketing: { enabled: true, bucketVersion: 0, minBucketVersion: 0 },
    bandit: { updateEveryHours: 12, burnInHours: 24, minShare: 0.01 },
    splitHistory: [{ until: '2026-11-21T00:00:00.000Z', shares: { control: 1 / 3, cheaper: 1 / 3, bundle: 1 / 3 } }],
  }),
);

/** A check due in three hours. */
const NEXT = new Date(Date.now() + 3 * 3_600_000).toISOString();

const VIEW: BanditState = {
  experiment: 'pricing',
  bandit: { updateEveryHours: 12, burnInHours: 24, minShare: 0.01 },
  metric: 'purchase',
  environment: 'production',
  nextUpdateAt: NEXT,
  updates: [
    {
      at: '2026-11-22T00:00:00.000Z',
      outcome: 'kept',
      reason: 'insufficient_units',
      metric: 'purchase',
      environment: 'production',
      shares: { control: 0.4, cheaper: 0.3, bundle: 0.3 },
      previousShares: { control: 0.4, cheaper: 0.3, bundle: 0.3 },
      chanceToBeBest: null,
      units: { control: 3, cheaper: 2, bundle: 1 },
      message: 'too few units',
    },
    {
      at: '2026-11-21T00:00:00.000Z',
      outcome: 'moved',
      reason: null,
      metric: 'purchase',
      environment: 'production',
      shares: { control: 0.4, cheaper: 0.3, bundle: 0.3 },
      previousShares: { control: 1 / 3, cheaper: 1 / 3, bundle: 1 / 3 },
      chanceToBeBest: { control: 0.5, cheaper: 0.3, bundle: 0.2 },
      units: { control: 300, cheaper: 290, bundle: 310 },
      message: 'moved',
    },
  ],
};

describe('the Bandit panel', () => {
  it('shows the shares, the metric, the next update, the share chart and the checks in words, and runs a check now', async () => {
    const u = userEvent.setup();
    let checked = false;
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/pricing/bandit') {
        return { status: 200, body: checked ? { ...VIEW, updates: [{ ...VIEW.updates[0]!, at: '2026-11-22T06:00:00.000Z', reason: 'no_change' }, ...VIEW.updates] } : VIEW };
      }
      if (req.method === 'POST' && req.path === '/api/v1/projects/web/experiments/pricing/bandit/update') {
        checked = true;
        return { status: 200, body: {} };
      }
      return undefined;
    });
    render(
      <WithSession client={client} me={user()}>
        <BanditPanel experiment={BANDIT_EXPERIMENT} />
      </WithSession>,
    );
    const panel = screen.getByRole('region', { name: 'Bandit' });
    const shares = within(panel).getByRole('table', { name: 'Current shares' });
    expect(within(panel).getByRole('figure', { name: 'Share of each variation over time' })).toBeTruthy();
    await waitFor(() => { expect(panel.textContent).toContain(`Next update: ${formatTime(NEXT)}`); });
    expect(panel.textContent).toContain('Metric: purchase');
    // The share the experiment serves now, with the last check's chance to be best (none: it kept the split for too few units) and units.
    expect(within(shares).getByRole('row', { name: /^cheaper/ }).textContent).toBe('cheaper30.0%—2');
    const checks = within(panel).getByRole('table', { name: 'Recent checks' });
    const rows = within(checks).getAllByRole('row').slice(1);
    expect(rows[0]?.textContent).toContain('Kept the splitToo few units yet to judge the variations');
    expect(rows[1]?.textContent).toContain('Moved the split');
    expect(rows[1]?.textContent).toContain('control 50.0% · cheaper 30.0% · bundle 20.0%');
    expect(rows[1]?.textContent).toContain('control 33.3% · cheaper 33.3% · bundle 33.3% → control 40.0% · cheaper 30.0% · bundle 30.0%');

    await u.click(within(panel).getByRole('button', { name: 'Update now' }));
    await waitFor(() => { expect(within(panel).getAllByRole('row').some((r) => r.textContent.includes('nothing to move'))).toBe(true); });
    expect(sent.filter((r) => r.method === 'POST').map((r) => r.path)).toEqual(['/api/v1/projects/web/experiments/pricing/bandit/update']);
    expect(within(panel).getByRole('status').textContent).toContain('Checked now');
  });

  it('shows a refused check in words, and offers Update now only to those who may edit a running experiment', async () => {
    const u = userEvent.setup();
    const refuse: Responder = (req) => {
      if (req.method === 'GET' && req.path.endsWith('/bandit')) {
        return { status: 200, body: VIEW };
      }
      if (req.method === 'POST') {
        return { status: 409, body: { error: { code: 'CONFLICT', message: 'The experiment is not running: start it first.' } } };
      }
      return undefined;
    };
    const { client } = fakeApi(refuse);
    render(
      <WithSession client={client} me={user()}>
        <BanditPanel experiment={BANDIT_EXPERIMENT} />
      </WithSession>,
    );
    await u.click(screen.getByRole('button', { name: 'Update now' }));
    expect((await screen.findByRole('alert')).textContent).toContain('The experiment is not running: start it first');
    cleanup();

    render(
      <WithSession client={fakeApi(refuse).client} me={user({ role: 'viewer' })}>
        <BanditPanel experiment={BANDIT_EXPERIMENT} />
      </WithSession>,
    );
    expect(screen.getByRole('button', { name: 'Update now' }).hasAttribute('disabled')).toBe(true);
    cleanup();
    render(
      <WithSession client={fakeApi(refuse).client} me={user()}>
        <BanditPanel experiment={{ ...BANDIT_EXPERIMENT, definition: { ...BANDIT_EXPERIMENT.definition, status: 'stopped' } }} />
      </WithSession>,
    );
    const button = screen.getByRole('button', { name: 'Update now' });
    expect([button.hasAttribute('disabled'), button.getAttribute('title')]).toEqual([true, 'The bandit moves the split only while the experiment runs']);
  });

  it('words every reason a check keeps the split', () => {
    for (const reason of ['burn_in', 'insufficient_units', 'no_chance_to_be_best', 'split_history_full', 'no_change', 'conflict', 'failed'] as const) {
      const text = reasonText({ reason, message: 'the database was unavailable.' }, { burnInHours: 24 });
      expect(text).toMatch(/^[A-Z].*\.$/);
      expect(text).not.toContain('_');
    }
    expect(reasonText({ reason: 'failed', message: 'the database was unavailable.' })).toBe('The check failed: the database was unavailable. The next check tries again.');
    expect(reasonText({ reason: null, message: '' })).toBeNull();
  });

  it('says when the next check is due: a time, due now once past, none unless running', () => {
    const now = Date.parse('2026-11-22T12:00:00.000Z');
    expect(nextUpdateText('running', '2026-11-22T18:00:00.000Z', now)).toBe(formatTime('2026-11-22T18:00:00.000Z'));
    expect(nextUpdateText('running', '2026-11-22T11:59:00.000Z', now)).toBe('due now (within a minute)');
    expect(nextUpdateText('running', null, now)).toBe('none scheduled');
    expect(nextUpdateText('stopped', '2026-11-22T18:00:00.000Z', now)).toBe('none while the experiment is not running');
  });
});

describe('the experiments list', () => {
  it('marks bandit experiments', async () => {
    const { client } = fakeApi((req) => {
      if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/experiments')) {
        return { status: 200, body: { items: [BANDIT_EXPERIMENT, storedOf(abExperiment('fixed', { name: 'Fixed' }))] } };
      }
      if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/alerts')) {
        return { status: 200, body: { items: [] } };
      }
      return undefined;
    });
    render(
      <WithSession client={client} me={user()}>
        <ExperimentsList />
      </WithSession>,
    );
    const table = await screen.findByRole('table', { name: 'Experiments' });
    const row = (name: RegExp): HTMLElement => within(table).getByRole('row', { name });
    expect(within(row(/^Pricing/)).getByRole('button', { name: 'bandit' }).getAttribute('aria-describedby')).not.toBeNull();
    expect(within(row(/^Fixed/)).queryByRole('button', { name: 'bandit' })).toBeNull();
  });
});

describe('the Settings dialog of a bandit experiment', () => {
  it('changes the cadence, then turns the bandit off keeping the moved weights and sticky bucketing, saying so', async () => {
    const u = userEvent.setup();
    let current: Stored<Experiment> = storedOf({ ...BANDIT_EXPERIMENT.definition, variations: [{ key: 'control', value: 1, weight: 0.1 }, { key: 'cheaper', value: 2, weight: 0.2 }, { key: 'bundle', value: 3, weight: 0.7 }] }, { version: 4 });
    const { client, sent } = fakeApi((req) => {
      if (req.path === '/api/v1/projects/web/experiments/pricing') {
        if (req.method === 'PUT') {
          current = storedOf(req.body as Experiment, { version: current.version + 1 });
        }
        return { status: 200, body: current };
      }
      if (req.path.startsWith('/api/v1/projects/web/experiments/pricing/results')) {
        return { status: 200, body: resultsView() };
      }
      if (req.path === '/api/v1/projects/web/experiments/pricing/bandit') {
        return { status: 200, body: VIEW };
      }
      return req.method === 'GET' ? { status: 200, body: { items: [] } } : undefined;
    });
    render(
      <WithSession client={client} me={user()}>
        <ExperimentPage experimentKey="pricing" />
      </WithSession>,
    );
    await screen.findByRole('region', { name: 'Bandit' });
    await u.click(screen.getByRole('button', { name: 'Settings…' }));
    const dialog = screen.getByRole('dialog');
    const toggle = within(dialog).getByRole<HTMLInputElement>('checkbox', { name: 'Bandit: move traffic to the best variation automatically' });
    expect(toggle.checked).toBe(true);
    const every = within(dialog).getByRole('spinbutton', { name: 'Update every (hours)' });
    await u.clear(every);
    await u.type(every, '6');
    await u.click(within(dialog).getByRole('button', { name: 'Save settings' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    expect(current.definition.bandit).toEqual({ updateEveryHours: 6, burnInHours: 24, minShare: 0.01 });

    await u.click(screen.getByRole('button', { name: 'Settings…' }));
    await u.click(within(screen.getByRole('dialog')).getByRole('checkbox', { name: 'Bandit: move traffic to the best variation automatically' }));
    expect(within(screen.getByRole('dialog')).getByRole('note').textContent).toContain('the experiment keeps the weights it has now');
    await u.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Save settings' }));
    await waitFor(() => { expect(screen.queryByRole('dialog')).toBeNull(); });
    const saved = sent.filter((r) => r.method === 'PUT').at(-1)?.body as Experiment;
    expect([saved.bandit, saved.stickyBucketing?.enabled, saved.variations.map((v) => v.weight), saved.splitHistory]).toEqual([undefined, true, [0.1, 0.2, 0.7], BANDIT_EXPERIMENT.definition.splitHistory]);
    expect(sent.filter((r) => r.method === 'PUT').map((r) => r.ifMatch)).toEqual(['"4"', '"5"']);
    // No longer a bandit: the panel and the badge go.
    await waitFor(() => { expect(screen.queryByRole('region', { name: 'Bandit' })).toBeNull(); });
  });
});
