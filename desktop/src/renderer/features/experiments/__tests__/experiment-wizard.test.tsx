import '../../../test/dom.js';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { userEvent } from '@testing-library/user-event';
import type { UserEvent } from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { Experiment, Holdout, Metric, Stored, StoredEnvironment, User, XpApiClient } from '@xp/shared';
import { WithSession, fakeApi, user } from '../../../test/fake-api.js';
import type { Responder } from '../../../test/fake-api.js';
import { abExperiment, storedOf } from '../../../test/fixtures.js';
import ExperimentWizard, { evenWeights, weightShare } from '../experiment-wizard.js';

afterEach(() => {
  cleanup();
  window.location.hash = '';
});

const PRODUCTION: StoredEnvironment = { key: 'production', name: 'Production', production: true, requireApproval: false, version: 1, position: 0 };
const DEVELOPMENT: StoredEnvironment = { key: 'development', name: 'Development', production: false, requireApproval: false, version: 1, position: 1 };
const STAGING: StoredEnvironment = { key: 'staging', name: 'Staging', production: false, requireApproval: true, version: 1, position: 2 };

function stored(version: number, status: Experiment['status']): Stored<Experiment> {
  return storedOf(abExperiment('cta-copy', { name: 'CTA copy', status }), { version });
}

/**
 * The lists the wizard loads (metrics, segments), empty; any other request is not found (404) — an
 * experiment under the key typed too, so the key is free.
 */
const emptyLists: Responder = (req) => (req.method === 'GET' && /\/(metrics|segments)(\?|$)/.test(req.path) ? { status: 200, body: { items: [] } } : undefined);

/** The API as a wizard that only creates sees it: the new experiment comes back a draft, every list is empty. */
function creatingApi(): ReturnType<typeof fakeApi> {
  return fakeApi((req) => {
    if (req.method === 'POST' && req.path === '/api/v1/projects/web/experiments') {
      return { status: 201, body: stored(1, 'draft') };
    }
    return emptyLists(req);
  });
}

/** Renders the wizard for `me` (in `environments`, or the session's default) and fills its first step. */
async function openWizard(u: UserEvent, client: XpApiClient, me: User, environments: StoredEnvironment[] | undefined, key: string, name: string): Promise<void> {
  render(
    <WithSession client={client} me={me} {...(environments === undefined ? {} : { environments })}>
      <ExperimentWizard />
    </WithSession>,
  );
  await u.type(await screen.findByRole('textbox', { name: 'Key' }), key);
  await u.type(screen.getByRole('textbox', { name: 'Name' }), name);
}

/** The step the wizard shows ("Hypothesis", "Variations"…). */
function currentStep(): string {
  return (document.querySelector('[aria-current="step"]')?.textContent ?? '').replace(/^\d+\. /, '');
}

/** Clicks Next and waits for the step after `from` (leaving the first step checks the key with the API first). */
async function next(u: UserEvent, from: string, to: string): Promise<void> {
  expect(currentStep()).toBe(from);
  await u.click(screen.getByRole('button', { name: 'Next' }));
  await waitFor(() => { expect(currentStep()).toBe(to); });
}

function conversion(key: string, guardrail: boolean): Stored<Metric> {
  return storedOf({ key, name: key, type: 'conversion', event: key, higherIsBetter: true, guardrail, tags: [] });
}

describe('experiment wizard', () => {
  it('moves the focus to the heading of the step that Next or Back shows', async () => {
    const u = userEvent.setup();
    const { client } = creatingApi();
    await openWizard(u, client, user(), undefined, 'cta-copy', 'CTA copy');
    // The first render leaves the focus where it is (in the Name field typed into).
    expect(document.activeElement).toBe(screen.getByRole('textbox', { name: 'Name' }));

    await next(u, 'Hypothesis', 'Variations');
    await waitFor(() => { expect(document.activeElement).toBe(screen.getByRole('heading', { level: 2, name: 'Step 2 of 6: Variations' })); });
    await u.click(screen.getByRole('button', { name: 'Back' }));
    // Back is disabled on the first step: the focus is on the heading, not lost with it.
    expect(document.activeElement).toBe(screen.getByRole('heading', { level: 2, name: 'Step 1 of 6: Hypothesis' }));
  });

  it('splits three variations evenly into weights that add up to 100%', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi(emptyLists);
    await openWizard(u, client, user(), undefined, 'three-way', 'Three-way test');
    await u.click(screen.getByRole('button', { name: 'Next' }));
    await u.click(screen.getByRole('button', { name: '+ Variation' }));
    await u.click(screen.getByRole('button', { name: 'Split evenly' }));

    expect([1, 2, 3].map((i) => screen.getByRole<HTMLInputElement>('spinbutton', { name: `Variation ${i} weight` }).value)).toEqual(['33.33', '33.33', '33.34']);
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.getByRole('button', { name: 'Next' }).getAttribute('aria-disabled')).toBeNull();
  });

  it('splits six variations as evenly as hundredths allow, and reviews and sends the weights without floating-point noise', async () => {
    const u = userEvent.setup();
    const { client, sent } = creatingApi();
    await openWizard(u, client, user(), [DEVELOPMENT], 'six-way', 'Six-way test');
    await u.click(screen.getByRole('button', { name: 'Next' }));
    for (let i = 0; i < 4; i++) {
      await u.click(screen.getByRole('button', { name: '+ Variation' }));
    }
    await u.click(screen.getByRole('button', { name: 'Split evenly' }));

    const weights = [1, 2, 3, 4, 5, 6].map((i) => screen.getByRole<HTMLInputElement>('spinbutton', { name: `Variation ${i} weight` }).value);
    expect(weights).toEqual(['16.66', '16.66', '16.67', '16.67', '16.67', '16.67']);
    expect(weights.reduce((sum, w) => sum + Math.round(Number(w) * 100), 0)).toBe(10_000);
    expect(screen.queryByRole('alert')).toBeNull();
    for (let i = 0; i < 4; i++) {
      await u.click(screen.getByRole('button', { name: 'Next' }));
    }

    const review = screen.getByRole('region', { name: 'Experiment definition' }).textContent;
    expect(review).toContain('"weight": 0.1667');
    expect(review).toContain('"weight": 0.1666');
    // No weight with more digits than the form's hundredths of a percent (0.16670000000000001).
    expect(review).not.toMatch(/"weight": \d\.\d{5,}/);
    await u.click(screen.getByRole('button', { name: 'Create draft' }));
    await waitFor(() => {
      expect(sent.some((r) => r.method === 'POST')).toBe(true);
    });
    const body = sent.find((r) => r.method === 'POST')?.body as { variations: { weight: number }[] };
    expect(body.variations.map((v) => v.weight)).toEqual([0.1666, 0.1666, 0.1667, 0.1667, 0.1667, 0.1667]);
  });

  it('sends typed weights as shares without floating-point noise', () => {
    expect([16.67, 33.33, 50, 0.1, 12.5, 70.1].map(weightShare)).toEqual([0.1667, 0.3333, 0.5, 0.001, 0.125, 0.701]);
    expect([16.67, 33.33, 70.1].map((w) => JSON.stringify(weightShare(w)))).toEqual(['0.1667', '0.3333', '0.701']);
    for (let n = 2; n <= 12; n++) {
      const even = evenWeights(n);
      expect(even.reduce((sum, w) => sum + Math.round(w * 100), 0)).toBe(10_000);
      expect(Math.max(...even) - Math.min(...even)).toBeLessThanOrEqual(0.0100001);
      expect(even.every((w) => String(w) === (Math.round(w * 100) / 100).toString() && !/\.\d{3}/.test(String(w)))).toBe(true);
    }
  });

  it('creates a server-side-only experiment when its client-side availability is turned off, from the start', async () => {
    const u = userEvent.setup();
    const { client, sent } = creatingApi();
    await openWizard(u, client, user({ role: 'editor' }), [DEVELOPMENT], 'pricing', 'Pricing');
    await u.click(screen.getByRole('button', { name: 'Next' }));
    await u.click(screen.getByRole('button', { name: 'Next' }));
    const available = screen.getByRole<HTMLInputElement>('checkbox', { name: 'Available to client-side SDKs (browsers, mobile apps)' });
    expect(available.checked).toBe(true);
    await u.click(available);
    for (let i = 0; i < 3; i++) {
      await u.click(screen.getByRole('button', { name: 'Next' }));
    }
    await u.click(screen.getByRole('button', { name: 'Create draft' }));

    await waitFor(() => {
      expect(sent.some((r) => r.method === 'POST')).toBe(true);
    });
    expect(sent.find((r) => r.method === 'POST')?.body).toMatchObject({ key: 'pricing', clientSide: false });
  });

  it('keeps Next disabled while a weight is outside 0–100% or a key is missing or taken, naming the field at fault', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi(emptyLists);
    await openWizard(u, client, user(), [PRODUCTION], 'weights', 'Weights');
    await u.click(screen.getByRole('button', { name: 'Next' }));
    const next = (): HTMLElement => screen.getByRole('button', { name: 'Next' });
    const weight = (i: number): HTMLElement => screen.getByRole('spinbutton', { name: `Variation ${i} weight` });
    const key = (i: number): HTMLElement => screen.getByRole('textbox', { name: `Variation ${i} key` });

    // -10% and 110% add up to 100%, but neither is a share of traffic.
    fireEvent.change(weight(1), { target: { value: '-10' } });
    fireEvent.change(weight(2), { target: { value: '110' } });
    expect(next().getAttribute('aria-disabled')).toBe('true');
    expect(screen.getByRole('alert').textContent).toBe('Variation 1 weight: -10% is not between 0 and 100%. Variation 2 weight: 110% is not between 0 and 100%.');
    expect(weight(1).getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(weight(1).getAttribute('aria-describedby') ?? '')).toBe(screen.getByRole('alert'));
    expect(key(1).getAttribute('aria-invalid')).toBeNull();
    // Held back, not disabled: a keyboard user reaches Next, hears it is unavailable, and pressing it
    // neither moves on nor drops the focus to the page.
    next().focus();
    await u.keyboard('{Enter}');
    expect(document.activeElement).toBe(next());
    expect(screen.getByRole('heading', { level: 2, name: 'Step 2 of 6: Variations' })).toBeTruthy();

    fireEvent.change(weight(1), { target: { value: '0' } });
    fireEvent.change(weight(2), { target: { value: '0' } });
    expect(screen.getByRole('alert').textContent).toBe('At least one variation needs a weight above 0%.');
    expect(next().getAttribute('aria-disabled')).toBe('true');
    fireEvent.change(weight(1), { target: { value: '' } });
    expect(screen.getByRole('alert').textContent).toBe('Variation 1 weight: enter a percentage from 0 to 100.');

    fireEvent.change(weight(1), { target: { value: '50' } });
    fireEvent.change(weight(2), { target: { value: '50' } });
    expect(screen.queryByRole('alert')).toBeNull();
    expect(next().getAttribute('aria-disabled')).toBeNull();

    // Duplicate and empty keys are named as such, not as weights that do not add up (they do).
    await u.clear(key(2));
    await u.type(key(2), 'control');
    expect(screen.getByRole('alert').textContent).toBe('Variation 2 key: "control" is already the key of variation 1; each variation needs its own key.');
    expect(key(2).getAttribute('aria-invalid')).toBe('true');
    expect(next().getAttribute('aria-disabled')).toBe('true');
    await u.clear(key(2));
    expect(screen.getByRole('alert').textContent).toBe('Variation 2 key: enter a key.');
    await u.type(key(2), 'treatment');
    expect(next().getAttribute('aria-disabled')).toBeNull();
    expect(sent.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('retries only the start when starting failed after the experiment was created', async () => {
    const u = userEvent.setup();
    let starts = 0;
    let created = false;
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'POST' && req.path === '/api/v1/projects/web/experiments') {
        created = true;
        return { status: 201, body: stored(1, 'draft') };
      }
      if (req.method === 'POST' && req.path.endsWith('/start')) {
        starts++;
        return starts === 1 ? { status: 503, body: { error: { code: 'UNAVAILABLE', message: 'the database is busy' } } } : { status: 200, body: stored(2, 'running') };
      }
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/cta-copy' && created) {
        return { status: 200, body: stored(1, 'draft') };
      }
      return emptyLists(req);
    });
    await openWizard(u, client, user({ role: 'admin' }), [DEVELOPMENT], 'cta-copy', 'CTA copy');
    for (let i = 0; i < 5; i++) {
      await u.click(screen.getByRole('button', { name: 'Next' }));
    }
    await u.click(screen.getByRole('button', { name: 'Create and start' }));
    expect((await screen.findByRole('alert')).textContent).toBe('the database is busy');
    expect(screen.getByRole('status').textContent).toMatch(/cta-copy was created as a draft, but starting it failed/);
    expect(window.location.hash).toBe('');

    await u.click(screen.getByRole('button', { name: 'Start experiment' }));
    await waitFor(() => { expect(window.location.hash).toBe('#/experiments/cta-copy'); });
    expect(sent.filter((r) => r.method !== 'GET' || r.path.endsWith('/cta-copy')).map((r) => `${r.method} ${r.path} ${r.ifMatch ?? ''}`)).toEqual([
      // Leaving the first step: is the key free? (404: yes.)
      'GET /api/v1/projects/web/experiments/cta-copy ',
      'POST /api/v1/projects/web/experiments ',
      'POST /api/v1/projects/web/experiments/cta-copy/start "1"',
      'GET /api/v1/projects/web/experiments/cta-copy ',
      'POST /api/v1/projects/web/experiments/cta-copy/start "1"',
    ]);
  });

  it('checks the power calculator\'s fields and says what is wrong with the one at fault', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi(emptyLists);
    await openWizard(u, client, user(), [DEVELOPMENT], 'plan', 'Plan');
    for (let i = 0; i < 4; i++) {
      await u.click(screen.getByRole('button', { name: 'Next' }));
    }
    const output = (): string => document.querySelector('output')?.textContent ?? '';
    const alpha = screen.getByRole('spinbutton', { name: 'Significance level α' });
    expect(output()).toMatch(/units per variation/);

    fireEvent.change(alpha, { target: { value: '0' } });
    expect(output()).toBe('The significance level α must be between 0 and 1 (exclusive), e.g. 0.05.');
    expect(alpha.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(alpha.getAttribute('aria-describedby') ?? '')?.textContent).toBe(output());
    fireEvent.change(alpha, { target: { value: '0.05' } });
    expect(alpha.getAttribute('aria-invalid')).toBeNull();

    const lift = screen.getByRole('spinbutton', { name: 'Smallest lift worth detecting (relative %)' });
    fireEvent.change(lift, { target: { value: '1000' } });
    expect(output()).toMatch(/^A \+1,000% lift on a 10\.0% baseline would make the conversion rate 110\.0%/);
    expect(lift.getAttribute('aria-invalid')).toBe('true');
    fireEvent.change(lift, { target: { value: '5' } });

    const daily = screen.getByRole('spinbutton', { name: 'Eligible units per day' });
    fireEvent.change(daily, { target: { value: '100' } });
    expect(output()).toMatch(/^[\d,]+ units per variation, [\d,]+ in all: about \d{1,3}(,\d{3})+ days at 100 units a day with 100% of traffic\.$/);
    // Past 10 years no number of days is proposed.
    fireEvent.change(lift, { target: { value: '0.1' } });
    fireEvent.change(daily, { target: { value: '1' } });
    expect(output()).toMatch(/^[\d,]+ units per variation, [\d,]+ in all: more than 10 years at 1 unit a day with 100% of traffic: a larger effect or more traffic is needed\.$/);

    // An emptied field is named, not read as 0 or NaN.
    fireEvent.change(daily, { target: { value: '' } });
    expect(output()).toBe('Enter the eligible units you expect per day: at least 1.');
    expect(daily.getAttribute('aria-invalid')).toBe('true');
    const baseline = screen.getByRole('spinbutton', { name: 'Baseline conversion rate (%)' });
    fireEvent.change(baseline, { target: { value: '' } });
    expect(output()).toBe('Enter the baseline conversion rate: a percentage between 0% and 100% (exclusive).');
    expect(output()).not.toMatch(/NaN|Infinity/);
  });

  it('lets an editor create a draft but start only what leaves protected environments alone, saying why', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi(emptyLists);
    await openWizard(u, client, user({ role: 'editor' }), [DEVELOPMENT, PRODUCTION], 'cta-copy', 'CTA copy');
    await u.click(screen.getByRole('button', { name: 'Next' }));
    await u.click(screen.getByRole('button', { name: 'Next' }));
    await u.click(screen.getByRole('checkbox', { name: 'Production' }));
    for (let i = 0; i < 3; i++) {
      await u.click(screen.getByRole('button', { name: 'Next' }));
    }

    const start = screen.getByRole('button', { name: 'Create and start' });
    expect(start).toHaveProperty('disabled', true);
    expect(start.getAttribute('title')).toBe('Editors need an owner or admin to start, stop or resume an experiment that runs in Production');
    expect(screen.getByRole('button', { name: 'Create draft' })).toHaveProperty('disabled', false);

    for (let i = 0; i < 3; i++) {
      await u.click(screen.getByRole('button', { name: 'Back' }));
    }
    await u.click(screen.getByRole('checkbox', { name: 'Production' }));
    for (let i = 0; i < 3; i++) {
      await u.click(screen.getByRole('button', { name: 'Next' }));
    }
    expect(screen.getByRole('button', { name: 'Create and start' })).toHaveProperty('disabled', false);
  });

  it('ticks only the unprotected environments by default; a protected one runs the experiment only once ticked, with a warning (F7)', async () => {
    const u = userEvent.setup();
    const { client, sent } = creatingApi();
    await openWizard(u, client, user({ role: 'admin' }), [DEVELOPMENT, STAGING, PRODUCTION], 'cta-copy', 'CTA copy');
    await u.click(screen.getByRole('button', { name: 'Next' }));
    await u.click(screen.getByRole('button', { name: 'Next' }));

    const checked = (name: string): boolean => screen.getByRole<HTMLInputElement>('checkbox', { name }).checked;
    expect([checked('Development'), checked('Staging'), checked('Production')]).toEqual([true, false, false]);
    expect(screen.queryByRole('note', { name: 'Protected environments chosen' })).toBeNull();
    await u.click(screen.getByRole('checkbox', { name: 'Production' }));
    expect(screen.getByRole('note', { name: 'Protected environments chosen' }).textContent).toBe('Production is protected: “Create and start” runs the experiment there at once, for real users.');
    await u.click(screen.getByRole('checkbox', { name: 'Production' }));
    for (let i = 0; i < 3; i++) {
      await u.click(screen.getByRole('button', { name: 'Next' }));
    }
    await u.click(screen.getByRole('button', { name: 'Create draft' }));
    await waitFor(() => { expect(sent.some((r) => r.method === 'POST')).toBe(true); });
    expect(sent.find((r) => r.method === 'POST')?.body).toMatchObject({ environments: ['development'] });
  });

  it('asks to choose an environment when every one is protected', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi(emptyLists);
    await openWizard(u, client, user({ role: 'admin' }), [PRODUCTION], 'cta-copy', 'CTA copy');
    await u.click(screen.getByRole('button', { name: 'Next' }));
    await u.click(screen.getByRole('button', { name: 'Next' }));
    expect(screen.getByRole('alert').textContent).toBe('Choose at least one environment.');
    expect(screen.getByRole('button', { name: 'Next' }).getAttribute('aria-disabled')).toBe('true');
    await u.click(screen.getByRole('checkbox', { name: 'Production' }));
    expect(screen.getByRole('button', { name: 'Next' }).getAttribute('aria-disabled')).toBeNull();
  });

  it('plans four unequal arms (40/20/30/10) by the 10% arm, which gets its units last, not as units per arm × arms', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi(emptyLists);
    await openWizard(u, client, user(), [DEVELOPMENT], 'bundles', 'Bundles');
    await next(u, 'Hypothesis', 'Variations');
    await u.click(screen.getByRole('button', { name: '+ Variation' }));
    await u.click(screen.getByRole('button', { name: '+ Variation' }));
    const key4 = screen.getByRole('textbox', { name: 'Variation 4 key' });
    await u.clear(key4);
    await u.type(key4, 'bundle');
    ['40', '20', '30', '10'].forEach((w, i) => {
      fireEvent.change(screen.getByRole('spinbutton', { name: `Variation ${i + 1} weight` }), { target: { value: w } });
    });
    await next(u, 'Variations', 'Targeting');
    await next(u, 'Targeting', 'Metrics');
    await next(u, 'Metrics', 'Power');

    const output = document.querySelector('output')?.textContent ?? '';
    // 56,512 per arm × 4 arms at 5,000 a day was "about 46 days"; the bundle arm gets 500 a day.
    const sentence = /The 10% arm “bundle” needs ([\d,]+) units: about ([\d,]+) days at 5,000 units a day with 100% of traffic\./.exec(output);
    expect(sentence).not.toBeNull();
    const [units, days] = [Number(sentence?.[1]?.replaceAll(',', '')), Number(sentence?.[2]?.replaceAll(',', ''))];
    expect(days).toBe(Math.ceil(units / 500));
    expect(days).toBeGreaterThan(90);
    expect(output).toMatch(/^Units each variation needs: control \(40%\) [\d,]+ · treatment \(20%\) [\d,]+ · treatment-2 \(30%\) [\d,]+ · bundle \(10%\) [\d,]+; [\d,]+ in all\./);
    expect(output).toContain('The results correct the 3 comparisons (1 metric × 3 treatments) together (Holm), so each is planned at α 0.017');
  });

  it('checks the first step on Next and names every field at fault with the API\'s limit', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi(emptyLists);
    render(
      <WithSession client={client} me={user()} environments={[DEVELOPMENT]}>
        <ExperimentWizard />
      </WithSession>,
    );
    const key = await screen.findByRole('textbox', { name: 'Key' });
    const name = screen.getByRole('textbox', { name: 'Name' });
    const hypothesis = screen.getByRole('textbox', { name: 'Hypothesis' });
    fireEvent.change(key, { target: { value: '-bad key' } });
    fireEvent.change(name, { target: { value: 'n'.repeat(300) } });
    fireEvent.change(hypothesis, { target: { value: 'h'.repeat(50_000) } });
    // Nothing is said before Next is tried.
    expect(screen.queryByRole('alert')).toBeNull();
    await u.click(screen.getByRole('button', { name: 'Next' }));

    expect(currentStep()).toBe('Hypothesis');
    const described = (input: HTMLElement): string | undefined => document.getElementById(input.getAttribute('aria-describedby') ?? '')?.textContent ?? undefined;
    expect(described(key)).toBe('Key: it must start with an ASCII letter or digit and contain only ASCII letters, digits, ".", "_" and "-".');
    expect(described(name)).toBe('Name: at most 200 characters (this one has 300).');
    expect(described(hypothesis)).toBe('Hypothesis: at most 5,000 characters (this one has 50,000).');
    expect(screen.getAllByRole('alert')).toHaveLength(3);
    expect(sent.filter((r) => r.path.includes('/experiments'))).toEqual([]);

    fireEvent.change(key, { target: { value: 'long-copy' } });
    fireEvent.change(name, { target: { value: 'n'.repeat(200) } });
    fireEvent.change(hypothesis, { target: { value: 'h'.repeat(5000) } });
    expect(screen.queryByRole('alert')).toBeNull();
    await next(u, 'Hypothesis', 'Variations');

    // A variation's name has the API's limit too.
    fireEvent.change(screen.getByRole('textbox', { name: 'Variation 2 name' }), { target: { value: 'v'.repeat(201) } });
    expect(screen.getByRole('alert').textContent).toBe('Variation 2 name: at most 200 characters (this one has 201).');
    expect(screen.getByRole('button', { name: 'Next' }).getAttribute('aria-disabled')).toBe('true');
  });

  it('says on leaving the first step that the key is taken, and lets a failed check pass (Create checks again)', async () => {
    const u = userEvent.setup();
    let down = false;
    const { client } = fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/api/v1/projects/web/experiments/cta-copy') {
        return { status: 200, body: stored(3, 'running') };
      }
      if (down && req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/experiments/')) {
        return { status: 503, body: { error: { code: 'UNAVAILABLE', message: 'the database is busy' } } };
      }
      return emptyLists(req);
    });
    await openWizard(u, client, user(), [DEVELOPMENT], 'cta-copy', 'CTA copy');
    const key = screen.getByRole('textbox', { name: 'Key' });
    const nextButton = screen.getByRole('button', { name: 'Next' });
    await u.click(nextButton);
    // While the API answers, focus stays on Next (a disabled button would drop it to the page)…
    expect(document.activeElement === nextButton || document.activeElement === key).toBe(true);
    await waitFor(() => { expect(screen.getByRole('alert').textContent).toBe('An experiment with key cta-copy already exists.'); });
    expect(key.getAttribute('aria-invalid')).toBe('true');
    // …and then moves to the field at fault.
    expect(document.activeElement).toBe(key);
    expect(currentStep()).toBe('Hypothesis');

    await u.type(key, '-2');
    expect(screen.queryByRole('alert')).toBeNull();
    down = true;
    await next(u, 'Hypothesis', 'Variations');
  });

  it('lists every problem the API returns when it refuses the experiment, not only the first', async () => {
    const u = userEvent.setup();
    const issues = [
      { path: 'body.name', message: 'Too big: expected string to have <=200 characters' },
      { path: 'body.hypothesis', message: 'Too big: expected string to have <=5000 characters' },
    ];
    const { client } = fakeApi((req) =>
      req.method === 'POST' ? { status: 400, body: { error: { code: 'VALIDATION_FAILED', message: `invalid body: ${issues[0]!.path}: ${issues[0]!.message}`, details: { issues } } } } : emptyLists(req),
    );
    await openWizard(u, client, user(), [DEVELOPMENT], 'refused', 'Refused');
    await next(u, 'Hypothesis', 'Variations');
    for (const [from, to] of [['Variations', 'Targeting'], ['Targeting', 'Metrics'], ['Metrics', 'Power'], ['Power', 'Review']] as const) {
      await next(u, from, to);
    }
    await u.click(screen.getByRole('button', { name: 'Create draft' }));
    const alert = await screen.findByRole('alert');
    expect([...alert.querySelectorAll('li')].map((li) => li.textContent)).toEqual(['name: Too big: expected string to have <=200 characters', 'hypothesis: Too big: expected string to have <=5000 characters']);
  });

  it('shows project-wide guardrails as applying to every experiment, never as "Not used", and counts them in the plan\'s comparisons', async () => {
    const u = userEvent.setup();
    const { client, sent } = fakeApi((req) => {
      if (req.method === 'GET' && req.path.startsWith('/api/v1/projects/web/metrics')) {
        return { status: 200, body: { items: [conversion('purchase', false), conversion('errors', true)] } };
      }
      if (req.method === 'POST' && req.path === '/api/v1/projects/web/experiments') {
        return { status: 201, body: stored(1, 'draft') };
      }
      return emptyLists(req);
    });
    await openWizard(u, client, user(), [DEVELOPMENT], 'cta-copy', 'CTA copy');
    for (const [from, to] of [['Hypothesis', 'Variations'], ['Variations', 'Targeting'], ['Targeting', 'Metrics']] as const) {
      await next(u, from, to);
    }
    const role = (key: string): HTMLSelectElement => screen.getByRole<HTMLSelectElement>('combobox', { name: `Role of ${key}` });
    const options = (key: string): string[] => [...role(key).options].map((o) => o.text);
    expect(role('errors').selectedOptions[0]?.text).toBe('Guardrail (project-wide, applies to every experiment)');
    expect(options('errors')).toEqual(['Primary', 'Secondary', 'Guardrail (project-wide, applies to every experiment)']);
    expect(options('purchase')).toEqual(['Not used', 'Primary', 'Secondary', 'Guardrail']);
    expect(role('purchase').selectedOptions[0]?.text).toBe('Not used');
    await u.selectOptions(role('purchase'), 'primary');

    await next(u, 'Metrics', 'Power');
    // purchase and the project's guardrail errors: two metrics × one treatment.
    expect(document.querySelector('output')?.textContent).toContain('The results correct the 2 comparisons (2 metrics × 1 treatment) together (Holm)');
    await next(u, 'Power', 'Review');
    await u.click(screen.getByRole('button', { name: 'Create draft' }));
    await waitFor(() => { expect(sent.some((r) => r.method === 'POST')).toBe(true); });
    expect(sent.find((r) => r.method === 'POST')?.body).toMatchObject({ metrics: { primary: ['purchase'], secondary: [], guardrails: [] } });
  });

  it('names result dimensions past the API\'s limits on the Metrics step', async () => {
    const u = userEvent.setup();
    const { client } = fakeApi(emptyLists);
    await openWizard(u, client, user(), [DEVELOPMENT], 'dims', 'Dims');
    for (const [from, to] of [['Hypothesis', 'Variations'], ['Variations', 'Targeting'], ['Targeting', 'Metrics']] as const) {
      await next(u, from, to);
    }
    const field = screen.getByRole('textbox', { name: /^Result dimensions/ });
    fireEvent.change(field, { target: { value: Array.from({ length: 11 }, (_v, i) => `d${i}`).join(', ') } });
    expect(screen.getByRole('alert').textContent).toBe('At most 10 result dimensions (now 11).');
    fireEvent.change(field, { target: { value: `country, ${'a'.repeat(257)}` } });
    expect(screen.getByRole('alert').textContent).toBe('Result dimension 2: at most 256 characters (this one has 257).');
    expect(screen.getByRole('button', { name: 'Next' }).getAttribute('aria-disabled')).toBe('true');
    fireEvent.change(field, { target: { value: 'country, plan' } });
    expect(screen.queryByRole('alert')).toBeNull();
  });
});

describe('experiment wizard: guardrail action, holdout and namespace', () => {
  const HOLDOUT: Stored<Holdout> = storedOf<Holdout>({ key: 'global-2026', name: 'Global 2026', hashAttribute: 'id', coverage: 0.05 });
  /** A running experiment holding 0–30% of namespace "checkout" in development, and a draft there (which holds nothing). */
  const BANNER = storedOf(abExperiment('banner', { name: 'Banner', status: 'running', environments: ['development'], namespace: { id: 'checkout', range: [0, 0.3] } }));
  const DRAFT = storedOf(abExperiment('footer', { name: 'Footer', namespace: { id: 'checkout', range: [0.5, 1] } }));

  /** The API of a project with metric "errors", holdout global-2026 and the experiments above; a create comes back a draft. */
  function projectApi(): ReturnType<typeof fakeApi> {
    return fakeApi((req) => {
      if (req.method === 'POST' && req.path === '/api/v1/projects/web/experiments') {
        return { status: 201, body: stored(1, 'draft') };
      }
      if (req.method !== 'GET') {
        return undefined;
      }
      if (/\/metrics(\?|$)/.test(req.path)) {
        return { status: 200, body: { items: [conversion('errors', false)] } };
      }
      if (/\/holdouts(\?|$)/.test(req.path)) {
        return { status: 200, body: { items: [HOLDOUT] } };
      }
      if (/\/experiments\?/.test(req.path)) {
        return { status: 200, body: { items: [BANNER, DRAFT] } };
      }
      return emptyLists(req);
    });
  }

  const select = (name: string | RegExp): HTMLSelectElement => screen.getByRole<HTMLSelectElement>('combobox', { name });
  const namespaceField = (): HTMLInputElement => screen.getByRole<HTMLInputElement>('combobox', { name: 'Namespace' });
  const rangeStart = (): HTMLInputElement => screen.getByRole<HTMLInputElement>('spinbutton', { name: 'Range start (%)' });
  const rangeEnd = (): HTMLInputElement => screen.getByRole<HTMLInputElement>('spinbutton', { name: 'Range end (%)' });
  /** The text an input's aria-describedby points at. */
  const described = (el: HTMLElement): string => document.getElementById(el.getAttribute('aria-describedby') ?? '')?.textContent ?? '';

  async function toTargeting(u: UserEvent): Promise<void> {
    await next(u, 'Hypothesis', 'Variations');
    await next(u, 'Variations', 'Targeting');
  }

  async function createDraft(u: UserEvent, sent: ReturnType<typeof fakeApi>['sent']): Promise<Record<string, unknown>> {
    await u.click(screen.getByRole('button', { name: 'Create draft' }));
    await waitFor(() => { expect(sent.some((r) => r.method === 'POST')).toBe(true); });
    return sent.find((r) => r.method === 'POST')?.body as Record<string, unknown>;
  }

  it('sends the guardrail action, holdout and namespace range chosen, the holdouts listed from the API', async () => {
    const u = userEvent.setup();
    const { client, sent } = projectApi();
    await openWizard(u, client, user(), [DEVELOPMENT], 'checkout-copy', 'Checkout copy');
    await toTargeting(u);

    await waitFor(() => { expect([...select('Holdout').options].map((o) => o.text)).toEqual(['None', 'Global 2026 (global-2026, 5% held out)']); });
    expect(sent.some((r) => r.method === 'GET' && r.path.startsWith('/api/v1/projects/web/holdouts'))).toBe(true);
    expect(described(select('Holdout'))).toContain('Units in the holdout');
    await u.selectOptions(select('Holdout'), 'global-2026');

    await u.type(namespaceField(), 'checkout');
    // The namespaces the project's experiments use are offered.
    const offered = document.getElementById(namespaceField().getAttribute('list') ?? '');
    expect([...(offered?.querySelectorAll('option') ?? [])].map((o) => o.getAttribute('value'))).toEqual(['checkout']);
    const ranges = screen.getByRole('list', { name: 'Ranges in namespace checkout' });
    expect(within(ranges).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
      'Banner (banner): 0%–30%, running in development',
      'Footer (footer): 50%–100%, draft (holds no range until it runs)',
    ]);
    expect(screen.getByText(/^Free while the running ones run:/).textContent).toBe('Free while the running ones run: 30%–100%.');
    fireEvent.change(rangeStart(), { target: { value: '30' } });
    fireEvent.change(rangeEnd(), { target: { value: '62.5' } });
    expect(screen.queryByRole('alert')).toBeNull();
    await next(u, 'Targeting', 'Metrics');

    expect([...select('When a guardrail degrades').options].map((o) => o.text)).toEqual([
      'Alert only: record an alert, the experiment keeps running (default)',
      'Stop the experiment and roll back to the control',
    ]);
    expect(select('When a guardrail degrades').value).toBe('alert');
    await u.selectOptions(select('Role of errors'), 'guardrail');
    await u.selectOptions(select('When a guardrail degrades'), 'stop');
    await next(u, 'Metrics', 'Power');
    await next(u, 'Power', 'Review');
    expect(screen.getByRole('region', { name: 'Experiment definition' }).textContent).toContain('"guardrailAction": "stop"');

    const body = await createDraft(u, sent);
    expect(body).toMatchObject({ holdout: 'global-2026', namespace: { id: 'checkout', range: [0.3, 0.625] }, guardrailAction: 'stop', metrics: { guardrails: ['errors'] } });
  });

  it('leaves the guardrail action, holdout and namespace out of the create body when none is chosen', async () => {
    const u = userEvent.setup();
    const { client, sent } = projectApi();
    await openWizard(u, client, user(), [DEVELOPMENT], 'plain', 'Plain');
    await toTargeting(u);
    await waitFor(() => { expect(select('Holdout').options).toHaveLength(2); });
    expect(select('Holdout').value).toBe('');
    expect(namespaceField().value).toBe('');
    // No range to give without a namespace.
    expect(screen.queryByRole('spinbutton', { name: 'Range start (%)' })).toBeNull();
    await next(u, 'Targeting', 'Metrics');
    expect(select('When a guardrail degrades').value).toBe('alert');
    await next(u, 'Metrics', 'Power');
    await next(u, 'Power', 'Review');

    const body = await createDraft(u, sent);
    expect(body).not.toHaveProperty('guardrailAction');
    expect(body).not.toHaveProperty('holdout');
    expect(body).not.toHaveProperty('namespace');
    expect(body).not.toHaveProperty('analysis');
  });

  it('sends the analysis plan chosen on the Metrics step, only the options changed, and checks α in plain words first', async () => {
    const u = userEvent.setup();
    const { client, sent } = projectApi();
    await openWizard(u, client, user(), [DEVELOPMENT], 'planned', 'Planned');
    await toTargeting(u);
    await next(u, 'Targeting', 'Metrics');
    const plan = screen.getByRole('group', { name: 'Analysis plan' });
    const alpha = within(plan).getByRole<HTMLInputElement>('spinbutton', { name: 'Significance level α' });
    // The platform's defaults until changed.
    expect([select('Test').value, alpha.value, select('Multiple-comparison correction').value, within(plan).getByRole<HTMLInputElement>('checkbox', { name: 'CUPED' }).checked]).toEqual(['fixed', '0.05', 'holm', true]);

    fireEvent.change(alpha, { target: { value: '1' } });
    expect(described(alpha)).toBe('Significance level α: 1 is not between 0 and 1 (both excluded); 0.05 is usual.');
    expect(screen.getByRole('button', { name: 'Next' }).getAttribute('aria-disabled')).toBe('true');
    fireEvent.change(alpha, { target: { value: '' } });
    expect(described(alpha)).toBe('Significance level α: enter a number between 0 and 1, such as 0.05.');
    fireEvent.change(alpha, { target: { value: '0.01' } });
    expect(alpha.getAttribute('aria-invalid')).toBeNull();
    await u.selectOptions(select('Test'), 'sequential');
    await u.click(within(plan).getByRole('checkbox', { name: 'CUPED' }));
    await next(u, 'Metrics', 'Power');
    // The power calculation plans at the plan's α, and says the plan's sequential test needs more units.
    expect(screen.getByRole<HTMLInputElement>('spinbutton', { name: 'Significance level α' }).value).toBe('0.01');
    expect(screen.getByRole('status').textContent).toContain('The analysis plan is a sequential test');
    await next(u, 'Power', 'Review');

    const body = await createDraft(u, sent);
    expect(body.analysis).toEqual({ sequential: true, alpha: 0.01, cuped: false });
  });

  it('checks the namespace range (0–100%, start below end) and keeps Next disabled until it is right', async () => {
    const u = userEvent.setup();
    const { client } = projectApi();
    await openWizard(u, client, user(), [DEVELOPMENT], 'ranges', 'Ranges');
    await toTargeting(u);
    const nextButton = (): HTMLElement => screen.getByRole('button', { name: 'Next' });

    await u.type(namespaceField(), 'checkout');
    expect(described(rangeStart())).toBe('Range start: enter a percentage from 0 to 100. Range end: enter a percentage from 0 to 100.');
    expect(nextButton().getAttribute('aria-disabled')).toBe('true');
    expect(screen.getByText('Fix the namespace.')).toBeTruthy();

    fireEvent.change(rangeStart(), { target: { value: '-5' } });
    fireEvent.change(rangeEnd(), { target: { value: '120' } });
    expect(described(rangeEnd())).toBe('Range start: -5% is not between 0 and 100%. Range end: 120% is not between 0 and 100%.');
    expect(rangeStart().getAttribute('aria-invalid')).toBe('true');

    fireEvent.change(rangeStart(), { target: { value: '60' } });
    fireEvent.change(rangeEnd(), { target: { value: '40' } });
    expect(described(rangeStart())).toBe('Range: the start (60%) must be below the end (40%).');
    expect(nextButton().getAttribute('aria-disabled')).toBe('true');

    fireEvent.change(rangeEnd(), { target: { value: '60' } });
    expect(described(rangeStart())).toBe('Range: the start (60%) must be below the end (60%).');

    fireEvent.change(rangeStart(), { target: { value: '40' } });
    expect(rangeStart().getAttribute('aria-invalid')).toBeNull();
    expect(screen.queryByRole('alert')).toBeNull();
    expect(nextButton().getAttribute('aria-disabled')).toBeNull();
  });

  it('warns of a range that overlaps a running experiment of the namespace in a shared environment', async () => {
    const u = userEvent.setup();
    const { client } = projectApi();
    await openWizard(u, client, user(), [DEVELOPMENT, STAGING], 'overlap', 'Overlap');
    await toTargeting(u);
    await u.type(namespaceField(), 'checkout');
    await screen.findByRole('list', { name: 'Ranges in namespace checkout' });
    fireEvent.change(rangeStart(), { target: { value: '20' } });
    fireEvent.change(rangeEnd(), { target: { value: '50' } });
    expect(screen.getByRole('status').textContent).toMatch(/^This range overlaps banner \(0%–30%\), running in an environment this experiment runs in/);

    // Banner runs in development only: in staging alone there is no overlap.
    await u.click(screen.getByRole('checkbox', { name: 'Staging' }));
    expect(screen.getByRole('status').textContent).toMatch(/^This range overlaps banner/);
    await u.click(screen.getByRole('checkbox', { name: 'Development' }));
    expect(screen.queryByRole('status')).toBeNull();
  });

  describe('unit of randomisation', () => {
    /** An account experiment running in namespace "accounts", and a holdout by account. */
    const ACCOUNT_HOLDOUT: Stored<Holdout> = storedOf<Holdout>({ key: 'accounts-2026', name: 'Accounts 2026', hashAttribute: 'accountId', coverage: 0.05 });
    const SEATS = storedOf(abExperiment('seats', { name: 'Seats', status: 'running', environments: ['development'], hashAttribute: 'accountId', namespace: { id: 'accounts', range: [0, 0.5] } }));
    function unitApi(refuse = false): ReturnType<typeof fakeApi> {
      return fakeApi((req) => {
        if (req.method === 'POST' && req.path === '/api/v1/projects/web/experiments') {
          return refuse
            ? {
                status: 400,
                body: { error: { code: 'VALIDATION_FAILED', message: 'invalid body', details: { issues: [{ path: 'body.hashAttribute', message: 'Too big: expected string to have <=256 characters' }] } } },
              }
            : { status: 201, body: stored(1, 'draft') };
        }
        if (req.method === 'GET' && /\/holdouts(\?|$)/.test(req.path)) {
          return { status: 200, body: { items: [HOLDOUT, ACCOUNT_HOLDOUT] } };
        }
        if (req.method === 'GET' && /\/experiments\?/.test(req.path)) {
          return { status: 200, body: { items: [BANNER, SEATS] } };
        }
        return emptyLists(req);
      });
    }
    const unitField = (): HTMLInputElement => screen.getByRole<HTMLInputElement>('combobox', { name: 'Unit (randomise by)' });
    const fallbackField = (): HTMLInputElement => screen.getByRole<HTMLInputElement>('combobox', { name: 'Fallback attribute' });
    /** Every text an input's aria-describedby points at (the error first, then the help). */
    const describedAll = (el: HTMLElement): string[] => (el.getAttribute('aria-describedby') ?? '').split(' ').map((id) => document.getElementById(id)?.textContent ?? '');

    it('randomises by id unless changed, and sends no hashAttribute then (the API\'s default)', async () => {
      const u = userEvent.setup();
      const { client, sent } = unitApi();
      await openWizard(u, client, user(), [DEVELOPMENT], 'per-user', 'Per user');
      await toTargeting(u);
      expect(unitField().value).toBe('id');
      expect(fallbackField().value).toBe('');
      expect(screen.queryByRole('note', { name: 'Fallback attribute set' })).toBeNull();
      await next(u, 'Targeting', 'Metrics');
      await next(u, 'Metrics', 'Power');
      await next(u, 'Power', 'Review');
      const body = await createDraft(u, sent);
      expect(body).not.toHaveProperty('hashAttribute');
      expect(body).not.toHaveProperty('fallbackAttribute');
    });

    it('offers the attributes the project uses, warns of a fallback, and sends hashAttribute and fallbackAttribute', async () => {
      const u = userEvent.setup();
      const { client, sent } = unitApi();
      await openWizard(u, client, user(), [DEVELOPMENT], 'account-seats', 'Account seats');
      await toTargeting(u);
      // id first, then what the project's experiments and holdouts randomise by.
      await waitFor(() => {
        const offered = document.getElementById(unitField().getAttribute('list') ?? '');
        expect([...(offered?.querySelectorAll('option') ?? [])].map((o) => o.getAttribute('value'))).toEqual(['id', 'accountId']);
      });
      await u.clear(unitField());
      await u.type(unitField(), ' accountId ');
      await u.type(fallbackField(), 'deviceId');
      expect(screen.getByRole('note', { name: 'Fallback attribute set' }).textContent).toMatch(/one visitor can count as two units \(say a user and an account\), possibly in both variations\. For an account experiment, prefer no fallback\./);
      expect(screen.queryByRole('alert')).toBeNull();
      await next(u, 'Targeting', 'Metrics');
      await next(u, 'Metrics', 'Power');
      await next(u, 'Power', 'Review');
      expect(screen.getByRole('region', { name: 'Experiment definition' }).textContent).toContain('"hashAttribute": "accountId"');
      const body = await createDraft(u, sent);
      expect(body).toMatchObject({ hashAttribute: 'accountId', fallbackAttribute: 'deviceId' });
    });

    it('says a holdout or namespace must use the same attribute, and warns of a holdout or running namespace experiment that does not', async () => {
      const u = userEvent.setup();
      const { client } = unitApi();
      await openWizard(u, client, user(), [DEVELOPMENT], 'mixed', 'Mixed');
      await toTargeting(u);
      await waitFor(() => { expect(select('Holdout').options).toHaveLength(3); });
      expect(describedAll(unitField()).join(' ')).not.toContain('must randomise by the same attribute');
      await u.selectOptions(select('Holdout'), 'accounts-2026');
      expect(describedAll(unitField()).join(' ')).toContain('Its holdout must randomise by the same attribute: the API refuses a mismatch.');
      expect(screen.getByRole('note', { name: 'Holdout randomises by another attribute' }).textContent).toBe(
        'Holdout accounts-2026 holds out units by accountId, this experiment randomises by id: the API refuses this. Choose a holdout by id, or no holdout.',
      );
      await u.type(namespaceField(), 'accounts');
      expect(describedAll(unitField()).join(' ')).toContain('Its holdout and the other experiments of its namespace must randomise by the same attribute');
      expect(screen.getByRole('note', { name: 'Namespace randomises by another attribute' }).textContent).toMatch(/^Namespace accounts has running experiments that randomise by another attribute \(seats by accountId\)/);

      await u.clear(unitField());
      await u.type(unitField(), 'accountId');
      expect(screen.queryByRole('note', { name: 'Holdout randomises by another attribute' })).toBeNull();
      expect(screen.queryByRole('note', { name: 'Namespace randomises by another attribute' })).toBeNull();
    });

    it('checks the attribute as the API does before sending, in plain words, and shows the API\'s refusal under the field', async () => {
      const u = userEvent.setup();
      const { client, sent } = unitApi(true);
      await openWizard(u, client, user(), [DEVELOPMENT], 'checked', 'Checked');
      await toTargeting(u);
      await u.clear(unitField());
      expect(unitField().getAttribute('aria-invalid')).toBe('true');
      expect(describedAll(unitField())[0]).toBe('Unit (randomise by): enter the attribute that identifies a unit, such as id (each user) or accountId (each account).');
      expect(screen.getByRole('button', { name: 'Next' }).getAttribute('aria-disabled')).toBe('true');
      expect(screen.getByText('Fix the unit of randomisation.')).toBeTruthy();
      // The message follows the label (never inside it): the field's accessible name stays its label.
      expect(unitField().closest('label')?.querySelector('.field-error')).toBeNull();

      fireEvent.change(unitField(), { target: { value: 'a'.repeat(257) } });
      expect(describedAll(unitField())[0]).toBe('Unit (randomise by): at most 256 characters (this one has 257).');
      fireEvent.change(fallbackField(), { target: { value: 'b'.repeat(300) } });
      expect(describedAll(fallbackField())[0]).toBe('Fallback attribute: at most 256 characters (this one has 300).');
      fireEvent.change(fallbackField(), { target: { value: '' } });
      fireEvent.change(unitField(), { target: { value: 'accountId' } });
      expect(unitField().getAttribute('aria-invalid')).toBeNull();
      await next(u, 'Targeting', 'Metrics');
      await next(u, 'Metrics', 'Power');
      await next(u, 'Power', 'Review');
      await u.click(screen.getByRole('button', { name: 'Create draft' }));
      await waitFor(() => { expect(sent.some((r) => r.method === 'POST')).toBe(true); });
      await u.click(screen.getByRole('button', { name: 'Back' }));
      await u.click(screen.getByRole('button', { name: 'Back' }));
      await u.click(screen.getByRole('button', { name: 'Back' }));
      expect(currentStep()).toBe('Targeting');
      expect(unitField().getAttribute('aria-invalid')).toBe('true');
      expect(describedAll(unitField())[0]).toBe('The API refused this unit: Too big: expected string to have <=256 characters.');
    });
  });
});
