import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { evaluateFlag } from '@xp/shared';
import type { XpApiClient } from '@xp/shared';
import { ExperimentationClient } from '@xp/sdk';
import { ARTIFACTS_DIR, OWNER, launchChromium, startConsoleStack, ownerApi } from '../console-stack.js';
import type { ConsoleStack } from '../console-stack.js';

const FLAG = 'e2e-checkout';
const EXPERIMENT = 'e2e-checkout-test';
const PROTECTED_FLAG = 'e2e-protected';
const EDITOR_EMAIL = 'e2e-editor@example.com';
const WAIT = { timeout: 30_000 };

/**
 * The analyst's flow end to end: the `npm start` stack on real PostgreSQL, the built console in
 * Debian's Chromium, traffic from the JavaScript SDK. One browser page walks through the steps in
 * order (each test continues where the previous one stopped); screenshots go to test-artifacts/.
 */
describe('console end to end', () => {
  let platform: ConsoleStack | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let api: XpApiClient;
  let consoleUrl: string;
  let sdkKey: string;

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    const [started, launched] = await Promise.all([startConsoleStack(), launchChromium()]);
    platform = started;
    browser = launched;
    consoleUrl = started.consoleUrl;
    sdkKey = started.sdkKey;
    const context = await launched.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    page = await context.newPage();
    api = await ownerApi(started);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await platform?.close();
  }, 60_000);

  it('signs in and lists the flags', async () => {
    await page.goto(consoleUrl);
    await page.getByRole('heading', { name: 'Sign in to xp' }).waitFor(WAIT);
    await shot('01-sign-in');

    await page.getByLabel('Email').fill(OWNER.email);
    await page.getByLabel('Password').fill(OWNER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();

    await page.getByRole('heading', { name: 'Flags' }).waitFor(WAIT);
    await page.getByRole('table', { name: 'Flags' }).getByText('new-checkout').waitFor(WAIT);
    await shot('02-flags-list');
    expect(await page.getByRole('combobox', { name: 'Environment' }).inputValue()).toBe('development');
  }, 60_000);

  it('follows the change feed: a flag renamed elsewhere shows without a reload', async () => {
    const feedRequest = page.waitForRequest((r) => r.url().includes('/api/v1/projects/demo/changes/stream'), WAIT);
    // The feed was opened at sign-in; a new page load opens it again if it was missed.
    await page.reload();
    const request = await feedRequest;
    expect(request.headers().accept).toBe('text/event-stream');
    await page.getByRole('table', { name: 'Flags' }).getByText('new-checkout').waitFor(WAIT);
    const current = await api.get('demo', 'flags', 'new-checkout');

    await api.replace('demo', 'flags', 'new-checkout', { ...current.definition, name: 'Checkout, renamed from the CLI' }, current.version);

    const renamed = page.getByRole('table', { name: 'Flags' }).getByRole('link', { name: 'Checkout, renamed from the CLI' });
    await renamed.waitFor(WAIT);
    expect(await renamed.getAttribute('href')).toBe('#/flags/new-checkout');
    await api.replace('demo', 'flags', 'new-checkout', current.definition, current.version + 1);
  }, 60_000);

  it('creates a flag, adds a targeting rule and a 25% rollout, and turns it on', async () => {
    await page.getByRole('button', { name: 'New flag' }).click();
    await page.getByLabel('Key').fill(FLAG);
    await page.getByLabel('Name').fill('E2E checkout');
    await page.getByRole('button', { name: 'Create flag' }).click();
    await page.getByRole('heading', { name: 'E2E checkout' }).waitFor(WAIT);

    await page.getByRole('button', { name: '+ Targeting rule' }).click();
    const rule1 = page.getByRole('region', { name: 'Rule 1' });
    await rule1.getByRole('button', { name: '+ Attribute condition' }).click();
    await rule1.getByLabel('Attribute 1').fill('country');
    await rule1.getByLabel('Value 1').fill('NL');
    await rule1.getByLabel('Rule 1 variation').selectOption('on');
    await page.getByRole('button', { name: '+ Percentage rollout' }).click();
    const rule2 = page.getByRole('region', { name: 'Rule 2' });
    await rule2.getByLabel('Rule 2 variation').selectOption('on');
    await rule2.getByLabel('Rule 2 rollout percent', { exact: true }).fill('25');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText(/Saved the targeting in Development/).waitFor(WAIT);

    await page.getByRole('switch', { name: 'Flag on in Development' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Turn on' }).click();
    await page.getByText(/Turned on in Development/).waitFor(WAIT);
    await shot('03-flag-editor');

    const stored = await api.get('demo', 'flags', FLAG);
    const dev = stored.definition.environments.development!;
    expect(dev.enabled).toBe(true);
    expect(dev.rules.map((r) => r.type)).toEqual(['force', 'rollout']);
    expect(dev.rules[0]).toMatchObject({ variation: 'on', condition: { country: { $eq: 'NL' } } });
    expect(dev.rules[1]).toMatchObject({ variation: 'on', coverage: 0.25 });
  }, 60_000);

  it('evaluates as a user and shows the exact reason and bucket per environment', async () => {
    const table = page.getByRole('table', { name: 'Evaluation by environment' });
    await page.getByRole('button', { name: 'Evaluate', exact: true }).click();
    await table.waitFor(WAIT);
    const { published } = await api.publishedRuleset('demo', 'development');
    const expected = evaluateFlag(published!.ruleset, FLAG, { attributes: { id: 'user-1' } });
    const devRow = table.getByRole('row', { name: /^Development/ });
    expect(await devRow.textContent()).toContain(expected.reason);
    expect(await devRow.textContent()).toContain(expected.bucket === undefined ? '—' : `${(expected.bucket * 100).toFixed(2)}%`);
    // Why: rule-1's condition refused a user without a country, saying so.
    expect(await devRow.textContent()).toContain('rule-1 condition-false: country is missing, needs {"$eq":"NL"}');

    await page.getByRole('button', { name: '+ Attribute', exact: true }).click();
    await page.getByLabel('Attribute name 2').fill('country');
    await page.getByLabel('Attribute value 2').fill('NL');
    await page.getByRole('button', { name: 'Evaluate', exact: true }).click();

    await devRow.getByText('TARGETING_MATCH').waitFor(WAIT);
    expect(await devRow.textContent()).toContain('rule-1');
    expect(await devRow.textContent()).toContain('rule-1 matched');
    expect(await devRow.textContent()).toContain('true');
    expect(await table.getByRole('row', { name: /^Production/ }).textContent()).not.toContain('TARGETING_MATCH');
    await shot('04-evaluate-as');
  }, 60_000);

  it('designs an experiment with the wizard and starts it', async () => {
    await page.getByRole('link', { name: 'Experiments' }).click();
    await page.getByRole('heading', { name: 'Experiments' }).waitFor(WAIT);
    await shot('05-experiments-list');
    await page.getByRole('button', { name: 'New experiment' }).click();
    await page.getByLabel('Key').fill(EXPERIMENT);
    await page.getByLabel('Name').fill('E2E checkout test');
    await page.getByLabel('Hypothesis').fill('A shorter checkout raises the purchase rate.');
    for (let i = 0; i < 3; i++) {
      await page.getByRole('button', { name: 'Next' }).click();
    }
    await page.getByLabel('Role of demo-purchase').selectOption('primary');
    await page.getByLabel('Role of demo-errors').selectOption('guardrail');
    await page.getByLabel('Result dimensions').fill('plan');
    await page.getByRole('button', { name: 'Next' }).click();
    const plan = await page.locator('output').textContent();
    expect(plan).toMatch(/units per variation.*about \d+ days?/);
    await shot('06-experiment-wizard-power');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Create and start' }).click();

    await page.getByRole('heading', { name: 'E2E checkout test' }).waitFor(WAIT);
    await page.getByText('running', { exact: true }).waitFor(WAIT);
    const created = (await api.get('demo', 'experiments', EXPERIMENT)).definition;
    expect([created.status, created.dimensions]).toEqual(['running', ['plan']]);
  }, 60_000);

  it('shows results and the SRM warning once SDK traffic arrives, and exports CSV', async () => {
    // Balanced traffic through the SDK (via the console's /sdk forwarding), then extra treatment
    // exposures straight to /sdk/v1/events, as a client that double-assigns would send: a real SRM.
    const client = new ExperimentationClient(sdkKey, { apiUrl: consoleUrl });
    await client.ready();
    const seen = { control: 0, treatment: 0 };
    for (let i = 0; i < 400; i++) {
      const user = `sdk-user-${i}`;
      const variation = client.getVariant(EXPERIMENT, user);
      if (variation === 'control' || variation === 'treatment') {
        seen[variation]++;
        if (i % (variation === 'treatment' ? 3 : 5) === 0) {
          client.trackEvent('demo_purchase', user, { amount: 20 });
        }
      }
    }
    await client.close();
    expect(seen.control + seen.treatment).toBe(400);
    const extra = Array.from({ length: 300 }, (_v, i) => ({ id: `srm-exposure-${i}`, type: 'exposure', unitId: `srm-user-${i}`, timestamp: Date.now(), experiment: EXPERIMENT, variation: 'treatment', attributes: { plan: i % 2 === 0 ? 'pro' : 'free' } }));
    const res = await fetch(`${consoleUrl}/sdk/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-xp-sdk-key': sdkKey }, body: JSON.stringify({ events: extra }) });
    expect(res.status).toBe(202);

    // The results panel refreshes on its own every 10 s; no reload.
    await page.getByText(/Sample ratio mismatch/).waitFor({ timeout: 60_000 });
    const units = page.getByRole('table', { name: 'Units per variation' });
    await units.getByRole('row', { name: /^Total/ }).getByText('700', { exact: true }).waitFor(WAIT);
    await page.getByRole('region', { name: 'Metric Purchase rate' }).waitFor(WAIT);
    // An experiment started minutes ago charts by hour; its one point carries the interval as an error bar.
    expect(await page.getByRole('combobox', { name: 'Over time' }).inputValue()).toBe('hour');
    const chart = page.getByRole('figure', { name: /^Cumulative effect of Purchase rate over time/ });
    await chart.locator('.recharts-errorBar').first().waitFor(WAIT);
    // Pointing at the point shows its effect with the interval.
    const box = (await chart.locator('.recharts-cartesian-grid').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    expect(await chart.getByRole('tooltip').innerText()).toMatch(/Treatment: [-+]?\d+\.\d%\s\[[-+−]?\d+\.\d%, [-+−]?\d+\.\d%\]/);
    await shot('07-experiment-results');
    const byDay = page.waitForRequest((r) => r.url().includes('/results?') && r.url().includes('interval=day'));
    await page.getByRole('combobox', { name: 'Over time' }).selectOption('day');
    await byDay;
    // A day of hourly points cannot be waited for here: the API's answer gets a longer time series
    // (the one part not from the real stack) to show that a series of points draws its interval as a band.
    const resultsUrl = (url: URL): boolean => url.pathname.endsWith(`/experiments/${EXPERIMENT}/results`);
    await page.route(resultsUrl, async (route) => {
      const response = await route.fetch();
      const body = (await response.json()) as { timeSeries: { points: unknown[] } };
      const start = Date.parse('2026-12-01T00:00:00Z');
      body.timeSeries.points = Array.from({ length: 24 }, (_v, i) => ({
        bucket: new Date(start + i * 3_600_000).toISOString(),
        end: new Date(start + (i + 1) * 3_600_000).toISOString(),
        units: { control: 10 * (i + 1), treatment: 10 * (i + 1) },
        metrics: [{ metric: 'demo-purchase', variation: 'treatment', effect: 0.1, ci: [0.1 - 1 / (i + 2), 0.1 + 1 / (i + 2)], pValue: 0.5 }],
      }));
      await route.fulfill({ response, json: body });
    });
    await page.getByRole('combobox', { name: 'Over time' }).selectOption('hour');
    await chart.locator('.recharts-area-area').first().waitFor(WAIT);
    await page.unroute(resultsUrl);

    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export CSV' }).click();
    const file = path.join(ARTIFACTS_DIR, 'results.csv');
    await (await download).saveAs(file);
    const csv = await readFile(file, 'utf8');
    expect(csv.split('\n')[0]).toMatch(/metric/);
    expect(csv).toContain('demo-purchase');
    expect(csv).toContain('treatment');

    const withoutCuped = page.waitForRequest((r) => r.url().includes('/results?') && r.url().includes('cuped=false'));
    await page.getByRole('switch', { name: 'CUPED' }).click();
    await withoutCuped;
    await page.getByRole('region', { name: 'Metric Purchase rate' }).waitFor(WAIT);

    // A change elsewhere in the project refreshes the page through the change feed; the analysis
    // choices made here stay (they used to reset when the page reloaded as if newly opened).
    const resultsRequest = (r: { url(): string }): boolean => r.url().includes(`/experiments/${EXPERIMENT}/results?`);
    const daily = page.waitForRequest((r) => resultsRequest(r) && r.url().includes('interval=day'), WAIT);
    await page.getByRole('combobox', { name: 'Over time' }).selectOption('day');
    await daily;
    const experimentReloaded = page.waitForRequest((r) => new URL(r.url()).pathname.endsWith(`/experiments/${EXPERIMENT}`), WAIT);
    const current = await api.get('demo', 'flags', 'new-checkout');
    await api.replace('demo', 'flags', 'new-checkout', { ...current.definition, description: 'Touched while an analyst reads results' }, current.version);
    await experimentReloaded;
    const resultsAfter = await page.waitForRequest(resultsRequest, WAIT);
    expect(resultsAfter.url()).toContain('cuped=false');
    expect(resultsAfter.url()).toContain('interval=day');
    expect(await page.getByRole('switch', { name: 'CUPED' }).isChecked()).toBe(false);
    expect(await page.getByRole('combobox', { name: 'Over time' }).inputValue()).toBe('day');

    // The experiment's dimension: only the units whose first exposure said plan=pro (150 of the
    // extra exposures; the SDK's carried no plan), answered from the dimension's rollups.
    // Choosing it first shows every value side by side; a value's button filters by it.
    await page.getByRole('combobox', { name: 'Dimension' }).selectOption('plan');
    const breakdown = page.getByRole('table', { name: 'Purchase rate by plan' });
    await breakdown.waitFor(WAIT);
    expect((await breakdown.getByRole('row').allInnerTexts()).slice(1).map((r) => r.split('\t').slice(0, 2))).toEqual([
      ['free', '150'],
      ['pro', '150'],
    ]);
    await shot('08-results-breakdown');
    const freeOnly = page.waitForRequest((r) => resultsRequest(r) && r.url().includes('attr.plan=free'), WAIT);
    await breakdown.getByRole('button', { name: 'free' }).click();
    await freeOnly;
    await units.getByRole('row', { name: /^Total/ }).getByText('150', { exact: true }).waitFor(WAIT);
    expect(await page.getByRole('table', { name: 'Purchase rate by plan' }).count()).toBe(0);
    const proOnly = page.waitForRequest((r) => resultsRequest(r) && r.url().includes('attr.plan=pro'), WAIT);
    await page.getByRole('textbox', { name: 'plan equals' }).fill('pro');
    await page.getByRole('textbox', { name: 'plan equals' }).press('Enter');
    const environment = new URL((await proOnly).url()).searchParams.get('environment') ?? 'production';
    await units.getByRole('row', { name: /^Total/ }).getByText('150', { exact: true }).waitFor(WAIT);
    const pro = await api.resultsDetail('demo', EXPERIMENT, { environment, attributes: { plan: 'pro' } });
    expect([pro.units.analysed, [...new Set(pro.metrics.map((m) => m.source))]]).toEqual([150, ['rollup']]);
    await page.getByRole('combobox', { name: 'Dimension' }).selectOption('');
    await units.getByRole('row', { name: /^Total/ }).getByText('700', { exact: true }).waitFor(WAIT);
  }, 120_000);

  it('edits the result dimensions of a running experiment', async () => {
    await page.getByRole('button', { name: 'Dimensions…' }).click();
    await page.getByLabel('Dimensions (comma-separated)').fill('plan, country');
    await page.getByRole('button', { name: 'Save dimensions' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached', ...WAIT });

    expect((await api.get('demo', 'experiments', EXPERIMENT)).definition.dimensions).toEqual(['plan', 'country']);
    expect(await page.getByRole('combobox', { name: 'Dimension' }).locator('option').allInnerTexts()).toEqual(['All units', 'plan', 'country']);
  }, 30_000);

  it('records a decision', async () => {
    await page.getByRole('button', { name: 'Decide…' }).click();
    await page.getByLabel('Decision').selectOption('rollback');
    await page.getByRole('button', { name: 'Stop and record decision' }).click();
    await page.getByText('stopped', { exact: true }).waitFor(WAIT);
    expect((await api.get('demo', 'experiments', EXPERIMENT)).definition.decision).toBe('rollback');
  }, 30_000);

  it('explores events: finds tracked events by name and opens a unit\'s timeline', async () => {
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Events' }).click();
    const table = page.getByRole('table', { name: 'Events' });
    await table.waitFor(WAIT);
    await page.getByLabel('Type').selectOption('track');
    await page.getByLabel('Name').fill('demo_purchase');
    await page.getByRole('button', { name: 'Search' }).click();
    await table.getByRole('button', { name: /^Timeline of sdk-user-/ }).first().waitFor(WAIT);
    expect(await table.getByText('exposure', { exact: true }).count()).toBe(0);
    await page.getByLabel('Unit id').fill('sdk-user-0');
    await page.getByRole('button', { name: 'Search' }).click();
    const unit = table.getByRole('button', { name: 'Timeline of sdk-user-0', exact: true }).first();
    await unit.waitFor(WAIT);
    expect(await table.getByRole('button', { name: /^Timeline of / }).count()).toBe(await table.getByRole('button', { name: 'Timeline of sdk-user-0', exact: true }).count());

    await unit.click();
    const timeline = page.getByRole('region', { name: 'Timeline of sdk-user-0' });
    await timeline.getByText(EXPERIMENT, { exact: true }).waitFor(WAIT);
    await timeline.getByText('demo_purchase', { exact: true }).first().waitFor(WAIT);
    await shot('10-events');
    expect(await timeline.getByText('exposure', { exact: true }).count()).toBeGreaterThanOrEqual(1);

    // A purchase naming its user's device among its units is found under the device, and opens its timeline.
    const res = await fetch(`${consoleUrl}/sdk/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-xp-sdk-key': sdkKey },
      body: JSON.stringify({ events: [{ id: 'units-purchase', type: 'track', unitId: 'sdk-account-1', units: { deviceId: 'sdk-device-1' }, timestamp: Date.now(), name: 'demo_purchase' }] }),
    });
    expect(res.status).toBe(202);
    await page.getByLabel('Unit id').fill('sdk-device-1');
    await page.getByRole('button', { name: 'Search' }).click();
    await table.getByRole('button', { name: 'Timeline of sdk-account-1', exact: true }).waitFor(WAIT);
    expect(await table.getByLabel('Other identifiers').innerText()).toBe('(deviceId sdk-device-1)');
    await table.getByRole('button', { name: 'Timeline of sdk-device-1', exact: true }).click();
    const device = page.getByRole('region', { name: 'Timeline of sdk-device-1' });
    await device.getByText('demo_purchase', { exact: true }).waitFor(WAIT);
    // Not necessarily the newest entry: the SDK traffic of the stack may expose the device's user again meanwhile.
    expect(await device.locator('li', { hasText: 'by sdk-account-1' }).first().innerText()).toMatch(/demo_purchase by sdk-account-1 \(deviceId sdk-device-1\)/);
  }, 60_000);

  it('edits a metric in place: the save carries the version it was opened at', async () => {
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Metrics' }).click();
    await page.getByRole('button', { name: 'Edit demo-purchase' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit metric demo-purchase' });
    await dialog.getByLabel('Description').fill('Share of users who bought at least once (edited in e2e).');
    await shot('15-metric-edit');
    const before = await api.get('demo', 'metrics', 'demo-purchase');
    await dialog.getByRole('button', { name: 'Save metric' }).click();
    await dialog.waitFor({ state: 'detached', timeout: 30_000 });
    const after = await api.get('demo', 'metrics', 'demo-purchase');
    expect(after.version).toBe(before.version + 1);
    expect(after.definition.description).toBe('Share of users who bought at least once (edited in e2e).');
  }, 60_000);

  it('creates a ratio metric with a delayed window and a cap, which the API stores as typed and the list sums up', async () => {
    await page.getByRole('button', { name: 'New metric' }).click();
    const dialog = page.getByRole('dialog', { name: 'New metric' });
    await dialog.getByRole('textbox', { name: 'Key', exact: true }).fill('e2e-revenue-per-session');
    await dialog.getByRole('textbox', { name: 'Name', exact: true }).fill('Revenue per session (e2e)');
    await dialog.getByRole('combobox', { name: 'Type', exact: true }).selectOption('ratio');
    await dialog.getByRole('textbox', { name: 'Numerator event', exact: true }).fill('demo_purchase');
    await dialog.getByRole('combobox', { name: 'Numerator aggregation', exact: true }).selectOption('sum');
    await dialog.getByRole('textbox', { name: 'Numerator property', exact: true }).fill('amount');
    await dialog.getByRole('textbox', { name: 'Denominator event', exact: true }).fill('demo_session');
    await dialog.getByRole('combobox', { name: 'Capping', exact: true }).selectOption('percentile');
    await dialog.getByRole('textbox', { name: 'Percentile', exact: true }).fill('1.5');
    await dialog.getByRole('textbox', { name: 'Delay (hours)', exact: true }).fill('-1');
    await dialog.getByRole('textbox', { name: 'Window (hours)', exact: true }).fill('72');
    await dialog.getByRole('button', { name: 'Create metric' }).click();
    // Checked before sending, in plain words under the field.
    expect(await dialog.getByText('Percentile: less than 1').count()).toBe(1);
    expect(await dialog.getByRole('textbox', { name: /^Percentile/ }).getAttribute('aria-invalid')).toBe('true');
    await dialog.getByRole('textbox', { name: /^Percentile/ }).fill('0.99');
    await shot('15b-metric-ratio');
    await dialog.getByRole('button', { name: 'Create metric' }).click();
    await dialog.waitFor({ state: 'detached', timeout: 30_000 });

    const stored = await api.get('demo', 'metrics', 'e2e-revenue-per-session');
    expect(stored.definition).toEqual({
      key: 'e2e-revenue-per-session',
      name: 'Revenue per session (e2e)',
      type: 'ratio',
      numerator: { event: 'demo_purchase', aggregation: 'sum', property: 'amount' },
      denominator: { event: 'demo_session', aggregation: 'count' },
      capping: { type: 'percentile', value: 0.99 },
      delayHours: -1,
      windowHours: 72,
      higherIsBetter: true,
      guardrail: false,
      tags: [],
    });
    const row = page.getByRole('table', { name: 'Metrics' }).getByRole('row').filter({ hasText: 'e2e-revenue-per-session' });
    await row.getByText('window 72 h · delay -1 h · capped at p99').waitFor(WAIT);
    expect(await row.getByText('sum of demo_purchase.amount ÷ count of demo_session').count()).toBe(1);
  }, 60_000);

  it('creates a count metric with two filter rows, which the API stores as one where and the list says in words', async () => {
    await page.goto(`${consoleUrl}/#/metrics`);
    // Run on its own (-t), the page has not signed in yet.
    const signIn = page.getByRole('heading', { name: 'Sign in to xp' });
    const heading = page.getByRole('heading', { name: 'Metrics', exact: true });
    await signIn.or(heading).first().waitFor(WAIT);
    if (await signIn.isVisible()) {
      await page.getByLabel('Email').fill(OWNER.email);
      await page.getByLabel('Password').fill(OWNER.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
    }
    await heading.waitFor(WAIT);
    await page.getByRole('button', { name: 'New metric' }).click();
    const dialog = page.getByRole('dialog', { name: 'New metric' });
    await dialog.getByRole('textbox', { name: 'Key', exact: true }).fill('e2e-pro-purchases');
    await dialog.getByRole('textbox', { name: 'Name', exact: true }).fill('Pro purchases (e2e)');
    await dialog.getByRole('combobox', { name: 'Type', exact: true }).selectOption('count');
    await dialog.getByRole('textbox', { name: 'Event', exact: true }).fill('demo_purchase');
    const filters = dialog.getByRole('group', { name: 'Only count events where…' });
    const add = async (n: number, property: string, operator: string, type: string, value: string): Promise<void> => {
      await filters.getByRole('button', { name: 'Add filter' }).click();
      await filters.getByRole('textbox', { name: `Filter ${n} property`, exact: true }).fill(property);
      await filters.getByRole('combobox', { name: `Filter ${n} operator`, exact: true }).selectOption({ label: operator });
      await filters.getByRole('combobox', { name: `Filter ${n} value type`, exact: true }).selectOption({ label: type });
      await filters.getByRole('textbox', { name: `Filter ${n} value`, exact: true }).fill(value);
    };
    await add(1, 'plan', 'is', 'text', 'pro');
    await add(2, 'amount', '≥', 'number', '10');
    await add(3, 'amount', '≥', 'number', '20');
    await dialog.getByRole('button', { name: 'Create metric' }).click();
    // Checked before sending: one operator once per property, said beside the row.
    await filters.getByText('Filter 3: filter 2 already tests amount ≥: a property takes each operator once').waitFor(WAIT);
    expect(await filters.getByRole('combobox', { name: 'Filter 3 operator', exact: true }).getAttribute('aria-invalid')).toBe('true');
    await filters.getByRole('button', { name: 'Remove filter 3', exact: true }).click();
    await shot('15c-metric-filter');
    await dialog.getByRole('button', { name: 'Create metric' }).click();
    await dialog.waitFor({ state: 'detached', timeout: 30_000 });

    const stored = await api.get('demo', 'metrics', 'e2e-pro-purchases');
    expect(stored.definition).toEqual({
      key: 'e2e-pro-purchases',
      name: 'Pro purchases (e2e)',
      type: 'count',
      event: 'demo_purchase',
      where: { plan: 'pro', amount: { $gte: 10 } },
      higherIsBetter: true,
      guardrail: false,
      tags: [],
    });
    const row = page.getByRole('table', { name: 'Metrics' }).getByRole('row').filter({ hasText: 'e2e-pro-purchases' });
    await row.getByText('demo_purchase where plan is pro and amount ≥ 10').waitFor(WAIT);

    // Opened and saved unchanged, the filter goes back as it was: the API, given the same definition, writes no new version.
    await page.getByRole('button', { name: 'Edit e2e-pro-purchases' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit metric e2e-pro-purchases' });
    expect(await edit.getByRole('textbox', { name: 'Filter 2 value', exact: true }).inputValue()).toBe('10');
    await edit.getByRole('button', { name: 'Save metric' }).click();
    await edit.waitFor({ state: 'detached', timeout: 30_000 });
    const saved = await api.get('demo', 'metrics', 'e2e-pro-purchases');
    expect(saved.version).toBe(stored.version);
    expect(saved.definition).toEqual(stored.definition);
  }, 90_000);

  it('routes an editor\'s production toggle through a change request another admin approves and applies', async () => {
    const production = (await api.environments('demo')).find((e) => e.key === 'production');
    expect(production === undefined ? false : production.production || production.requireApproval).toBe(true);
    await api.create('demo', 'flags', {
      key: PROTECTED_FLAG,
      name: 'E2E protected',
      type: 'boolean',
      variations: [{ key: 'off', value: false }, { key: 'on', value: true }],
      environments: { production: { enabled: false, defaultVariation: 'on', offVariation: 'off' } },
    });

    // The owner invites an editor from the Users screen; the generated password is shown once.
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Users & keys' }).click();
    await page.getByRole('button', { name: 'Invite user' }).click();
    const invite = page.getByRole('dialog', { name: 'Invite a user' });
    await invite.getByLabel('Email').fill(EDITOR_EMAIL);
    await invite.getByLabel('Name').fill('E2E Editor');
    await invite.getByLabel('Role').selectOption('editor');
    await shot('16-users-invite');
    await invite.getByRole('button', { name: 'Invite user' }).click();
    const password = (await page.getByRole('dialog', { name: 'User added' }).locator('code').textContent({ timeout: 30_000 })) ?? '';
    expect(password.length).toBeGreaterThan(8);
    await page.getByRole('dialog', { name: 'User added' }).getByRole('button', { name: 'Done' }).click();
    await page.getByRole('combobox', { name: `Role of ${EDITOR_EMAIL}`, exact: true }).waitFor(WAIT);
    await shot('17-users-admin');

    // The editor, in their own browser session, turns the flag on in production.
    if (browser === undefined) {
      throw new Error('Chromium did not start');
    }
    const editorContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const editor = await editorContext.newPage();
      await editor.goto(consoleUrl);
      await editor.getByLabel('Email').fill(EDITOR_EMAIL);
      await editor.getByLabel('Password').fill(password);
      await editor.getByRole('button', { name: 'Sign in' }).click();
      // The password the owner's invitation generated must be replaced at the first sign-in.
      await editor.getByRole('group', { name: 'Choose a new password' }).waitFor(WAIT);
      await editor.getByLabel('New password', { exact: true }).fill('violet harbour quokka 2031');
      await editor.getByLabel('Confirm new password', { exact: true }).fill('violet harbour quokka 2031');
      await editor.getByRole('button', { name: 'Set password and sign in' }).click();
      await editor.getByRole('heading', { name: 'Flags' }).waitFor(WAIT);
      await editor.getByRole('combobox', { name: 'Environment' }).selectOption('production');
      await editor.goto(`${consoleUrl}/#/flags/${PROTECTED_FLAG}`);
      await editor.getByRole('heading', { name: 'E2E protected' }).waitFor(WAIT);
      await editor.getByRole('combobox', { name: 'Editing environment' }).selectOption('production');
      await editor.getByRole('switch', { name: 'Flag on in Production' }).click();
      await editor.getByRole('dialog').getByRole('button', { name: 'Turn on' }).click();
      await editor.getByRole('link', { name: 'Review the change request' }).waitFor(WAIT);
      await editor.screenshot({ path: path.join(ARTIFACTS_DIR, '18-change-request-proposed.png'), fullPage: true });
      await editor.getByRole('link', { name: 'Review the change request' }).click();
      await editor.getByRole('heading', { name: 'Change requests' }).waitFor(WAIT);
      await editor.getByText(/you cannot approve your own request/).waitFor(WAIT);
      expect(await editor.getByRole('button', { name: /^Approve/ }).count()).toBe(0);
    } finally {
      await editorContext.close();
    }
    expect((await api.get('demo', 'flags', PROTECTED_FLAG)).definition.environments.production?.enabled ?? false).toBe(false);

    // The owner approves, then applies, in the console.
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Change requests' }).click();
    await page.getByRole('heading', { name: 'Change requests' }).waitFor(WAIT);
    const approve = page.getByRole('button', { name: `Approve ${PROTECTED_FLAG} in production` });
    await approve.waitFor(WAIT);
    await shot('19-change-requests');
    await approve.click();
    await page.getByText(/approved; it can be applied now/).waitFor(WAIT);
    await page.getByRole('button', { name: `Apply ${PROTECTED_FLAG} in production` }).click();
    await page.getByText(/applied, the flag is updated/).waitFor(WAIT);
    await page.getByRole('combobox', { name: 'Status' }).selectOption('applied');
    await page.getByRole('list', { name: 'Change requests' }).getByText(/approved by you/).waitFor(WAIT);
    await shot('20-change-request-applied');

    const flag = await api.get('demo', 'flags', PROTECTED_FLAG);
    expect(flag.definition.environments.production?.enabled).toBe(true);
    const [request] = (await api.changeRequests('demo', { resourceKey: PROTECTED_FLAG })).items;
    expect(request?.status).toBe('applied');
    expect(request?.approvedBy).not.toBe(request?.proposedBy);
  }, 90_000);

  it('creates an SDK key on the Users & keys screen, shows it once, and revokes it', async () => {
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Users & keys' }).click();
    // The keys of the first start, by environment: prefixes only, never a key itself.
    const dev = page.getByRole('table', { name: 'SDK keys in Development' });
    await dev.getByRole('cell', { name: 'Development server', exact: true }).waitFor(WAIT);
    expect(await dev.textContent()).toContain(`${sdkKey.slice(0, 16)}…`);
    expect(await page.locator('body').textContent()).not.toContain(sdkKey);

    await page.getByRole('button', { name: 'New SDK key' }).click();
    const form = page.getByRole('dialog', { name: 'New SDK key' });
    await form.getByLabel('Environment').selectOption('development');
    await form.getByLabel('Server-side (secret)').check();
    await form.getByLabel('Name').fill('E2E backend');
    await form.getByRole('button', { name: 'Create key' }).click();
    const created = page.getByRole('dialog', { name: 'SDK key created' });
    const key = (await created.locator('code.secret').textContent({ timeout: WAIT.timeout })) ?? '';
    expect(key).toMatch(/^xpk_srv_/);
    expect((await fetch(`${consoleUrl}/sdk/v1/ruleset`, { headers: { 'x-xp-sdk-key': key } })).status).toBe(200);
    await shot('22-sdk-key-created');
    await created.getByRole('button', { name: 'Done' }).click();

    const row = dev.getByRole('row', { name: /E2E backend/ });
    await row.waitFor(WAIT);
    expect(await page.locator('body').textContent()).not.toContain(key);
    await row.getByRole('button', { name: 'Revoke E2E backend' }).click();
    await page.getByRole('dialog', { name: 'Revoke E2E backend?' }).getByRole('button', { name: 'Revoke' }).click();
    await row.getByText(/^revoked/).waitFor(WAIT);
    const actions = (await api.audit({ project: 'demo', resourceType: 'sdk-key' })).items.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['sdk-key.created', 'sdk-key.revoked']));
  }, 60_000);

  it('shows the other screens with their data', async () => {
    const screens: [link: string, heading: string, expectText: RegExp | null][] = [
      ['Segments', 'Segments', null],
      ['Metrics', 'Metrics', /Purchase rate/],
      ['Code references', 'Code references', null],
      ['Audit log', 'Audit log', new RegExp(FLAG)],
      ['Users & keys', 'Users, roles and keys', new RegExp(OWNER.email)],
      ['Health', 'Health', /Database/],
    ];
    let n = 8;
    for (const [link, heading, text] of screens) {
      await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: link }).click();
      await page.getByRole('heading', { name: heading, exact: true }).waitFor(WAIT);
      await page.locator('.state-loading').first().waitFor({ state: 'detached', timeout: 30_000 });
      if (text !== null) {
        await page.getByText(text).first().waitFor(WAIT);
      }
      await shot(`${String(n++).padStart(2, '0')}-${link.toLowerCase().replace(/[^a-z]+/g, '-')}`);
    }
    expect(await page.getByRole('table', { name: 'Health figures' }).or(page.getByText('No metrics in this window yet.')).count()).toBe(1);
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Audit log' }).click();
    const audit = page.getByRole('table', { name: 'Audit entries' });
    await audit.waitFor(WAIT);
    expect(await audit.textContent()).toContain(EXPERIMENT);
    const before = await page.locator('html').getAttribute('data-theme');
    await page.getByRole('button', { name: /Switch to the (dark|light) theme/ }).click();
    await page.goto(`${consoleUrl}/#/flags/${FLAG}`);
    await page.getByRole('heading', { name: 'E2E checkout' }).waitFor(WAIT);
    await shot(`${String(n).padStart(2, '0')}-flag-editor-other-theme`);
    expect(await page.locator('html').getAttribute('data-theme')).toBe(before === 'dark' ? 'light' : 'dark');
  }, 60_000);

  it('wraps a long flag key in a narrow window instead of pushing the toggles off screen', async () => {
    const key = 'checkout.payment_provider.stripe_v3_migration_rollout_for_enterprise_customers_in_the_eu_region';
    await api.create('demo', 'flags', { key, name: 'Stripe v3 migration', type: 'boolean', variations: [{ key: 'off', value: false }, { key: 'on', value: true }] });
    await page.setViewportSize({ width: 800, height: 800 });
    await page.goto(`${consoleUrl}/#/flags`);
    await page.getByRole('table', { name: 'Flags' }).getByText(key).waitFor(WAIT);
    await shot('21-flags-narrow-long-key');
    expect(await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')).toBe(0);
  }, 60_000);

  it('reflows at 320 px wide (WCAG 1.4.10): no screen scrolls sideways, wide tables scroll in their own region', async () => {
    await page.setViewportSize({ width: 320, height: 640 });
    for (const [hash, heading] of [
      ['flags', 'Flags'],
      ['health', 'Health'],
      ['experiments', 'Experiments'],
    ] as const) {
      await page.goto(`${consoleUrl}/#/${hash}`);
      await page.getByRole('heading', { name: heading, exact: true }).waitFor(WAIT);
      await page.locator('.state-loading').first().waitFor({ state: 'detached', ...WAIT });
      await shot(`22-${hash}-320px`);
      expect([hash, await page.evaluate('document.documentElement.scrollWidth')]).toEqual([hash, 320]);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  }, 60_000);
});
