import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { splitShares } from '@xp/shared';
import type { XpApiClient } from '@xp/shared';
import { ExperimentationClient } from '@xp/sdk';
import { ARTIFACTS_DIR, OWNER, launchChromium, startConsoleStack, ownerApi } from '../console-stack.js';
import type { ConsoleStack } from '../console-stack.js';
import { seriousViolations } from '../axe.js';

const EXPERIMENT = 'e2e-bandit';
const WAIT = { timeout: 30_000 };

/**
 * A bandit experiment end to end: designed in the wizard of the built console (Debian's Chromium)
 * against the `npm start` stack on real PostgreSQL, then its page's Bandit panel, and a check run
 * with *Update now* (POST …/bandit/update) listed from GET …/bandit.
 */
describe('bandit experiments in the console', () => {
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
    page = await (await launched.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    api = await ownerApi(started);
    consoleUrl = started.consoleUrl;
    sdkKey = started.sdkKey;
    await page.goto(started.consoleUrl);
    await page.getByLabel('Email').fill(OWNER.email);
    await page.getByLabel('Password').fill(OWNER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Flags' }).waitFor(WAIT);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await platform?.close();
  }, 60_000);

  it('creates a three-way bandit in the wizard, with its checks before Create', async () => {
    await page.getByRole('link', { name: 'Experiments' }).click();
    await page.getByRole('button', { name: 'New experiment' }).click();
    await page.getByLabel('Key').fill(EXPERIMENT);
    await page.getByLabel('Name').fill('E2E bandit');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: '+ Variation' }).click();
    await page.getByRole('button', { name: 'Split evenly' }).click();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('heading', { name: 'Step 4 of 6: Metrics' }).waitFor(WAIT);

    await page.getByRole('checkbox', { name: 'Bandit: move traffic to the best variation automatically' }).check();
    // No primary metric yet: said under the metric, and Next waits for one.
    const metric = page.getByRole('combobox', { name: 'Metric to optimise' });
    expect(await metric.getAttribute('aria-invalid')).toBe('true');
    await page.getByText('give a metric the role Primary first').waitFor(WAIT);
    expect(await page.getByRole('button', { name: 'Next' }).getAttribute('aria-disabled')).toBe('true');
    await page.getByLabel('Role of demo-purchase').selectOption('primary');
    await page.getByRole('spinbutton', { name: 'Least share per variation (%)' }).fill('40');
    await page.getByText('Least share per variation: 40% for each of 3 variations is more than all the traffic; at most 33.33%.').waitFor(WAIT);
    await page.getByRole('spinbutton', { name: 'Least share per variation (%)' }).fill('5');
    await page.getByRole('spinbutton', { name: 'Burn-in (hours)' }).fill('0');
    await page.getByRole('note', { name: 'Sticky bucketing' }).waitFor(WAIT);
    await shot('bandit-01-wizard');
    expect(await seriousViolations(page)).toBe('');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Create and start' }).click();

    await page.getByRole('heading', { name: 'E2E bandit', level: 1 }).waitFor(WAIT);
    const stored = (await api.get('demo', 'experiments', EXPERIMENT)).definition;
    expect([stored.status, stored.stickyBucketing?.enabled, stored.bandit]).toEqual(['running', true, { updateEveryHours: 24, burnInHours: 0, minShare: 0.05 }]);
  }, 90_000);

  it('shows the Bandit panel: shares, metric, the split not moved yet, and a check run with Update now', async () => {
    const panel = page.getByRole('region', { name: 'Bandit' });
    await panel.waitFor(WAIT);
    const shares = panel.getByRole('table', { name: 'Current shares' });
    expect(await shares.getByRole('row').count()).toBe(4);
    expect(await shares.getByRole('row', { name: /^control/ }).textContent()).toContain('33.3%');
    expect(await panel.textContent()).toContain('Metric: demo-purchase');
    // No move yet: no share chart, but the split set at the start.
    await panel.getByText('The split has not moved yet').waitFor(WAIT);

    await panel.getByRole('button', { name: 'Update now' }).click();
    await panel.getByRole('status').getByText('Checked now').waitFor(WAIT);
    const checks = panel.getByRole('table', { name: 'Recent checks' });
    // No unit has been exposed: the check keeps the split, and says why in words.
    await checks.getByText('Too few units yet to judge the variations').waitFor(WAIT);
    expect(await checks.getByRole('row').nth(1).textContent()).toContain('Kept the split');
    await shot('bandit-02-panel');

  }, 90_000);

  it('moves the split towards the best variation once units arrive, and charts the shares over time', async () => {
    // Traffic through the SDK: every variation's units, treatment-2 converting far more often.
    const client = new ExperimentationClient(sdkKey, { apiUrl: consoleUrl });
    await client.ready();
    const seen: Record<string, number> = {};
    for (let i = 0; i < 900; i++) {
      const user = `bandit-user-${i}`;
      const variation = client.getVariant(EXPERIMENT, user) ?? 'none';
      seen[variation] = (seen[variation] ?? 0) + 1;
      if (i % (variation === 'treatment-2' ? 2 : 10) === 0) {
        client.trackEvent('demo_purchase', user, { amount: 20 });
      }
    }
    await client.close();
    expect(Object.keys(seen).sort()).toEqual(['control', 'treatment', 'treatment-2']);

    const panel = page.getByRole('region', { name: 'Bandit' });
    const checks = panel.getByRole('table', { name: 'Recent checks' });
    // The results count the units within seconds; until then a check keeps the split for too few units.
    await expect
      .poll(
        async () => {
          const last = await checks.getByRole('row').nth(1).textContent();
          if (last?.includes('Moved the split') === true) {
            return last;
          }
          // A check now, then the list read again after it (GET …/bandit), before the next look.
          const listed = page.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname.endsWith(`/experiments/${EXPERIMENT}/bandit`), WAIT);
          await panel.getByRole('button', { name: 'Update now' }).click();
          await listed;
          return last;
        },
        { timeout: 60_000, interval: 2_000 },
      )
      .toContain('Moved the split');
    const moved = (await api.get('demo', 'experiments', EXPERIMENT)).definition;
    expect(moved.splitHistory?.length).toBe(1);
    // Weights are relative: the shares are what they give.
    const shares = splitShares(moved);
    expect(shares['treatment-2']).toBeGreaterThan(shares.control!);
    // The page reads the moved weights, and charts the split before and after the move.
    await panel.getByRole('figure', { name: 'Share of each variation over time' }).waitFor(WAIT);
    expect(await panel.getByRole('table', { name: 'Current shares' }).getByRole('row', { name: /^treatment-2/ }).textContent()).toContain(`${(shares['treatment-2']! * 100).toFixed(1)}%`);
    // The results of a bandit are stratified by default, and say so.
    expect(await page.getByRole('combobox', { name: 'Split phase' }).inputValue()).toBe('stratified');
    await page.getByRole('status', { name: 'Split phase' }).getByText(/Results of all 2 split phases, stratified/).waitFor(WAIT);
    await shot('bandit-03-moved');
    expect(await seriousViolations(page)).toBe('');

    await page.getByRole('link', { name: '← All experiments' }).click();
    const row = page.getByRole('table', { name: 'Experiments' }).getByRole('row', { name: /E2E bandit/ });
    await row.getByRole('button', { name: 'bandit' }).waitFor(WAIT);
  }, 90_000);
});
