import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { XpApiClient } from '@xp/shared';
import { ARTIFACTS_DIR, OWNER, launchChromium, ownerApi, startConsoleStack } from '../console-stack.js';
import type { ConsoleStack } from '../console-stack.js';
import { seriousViolations } from '../axe.js';

const WAIT = { timeout: 30_000 };
const FLAG = 'new-checkout';
const UNDEFINED_KEY = 'no-such-flag';

/**
 * Flag evaluation counts end to end: an `evaluations` record sent with the development server SDK
 * key to POST /sdk/v1/events of the `npm start` stack (real PostgreSQL), through the pipeline, to
 * the built console in Debian's Chromium: the flag's *Evaluations* tab (with its applications and
 * the Application filter) and the flags list's *Last evaluated* column and *Evaluated but not
 * defined* panel (with the applications asking for each key).
 */
describe('flag evaluation counts in the console', () => {
  let platform: ConsoleStack | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let api: XpApiClient;

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    const [started, launched] = await Promise.all([startConsoleStack(), launchChromium()]);
    platform = started;
    browser = launched;
    page = await (await launched.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    api = await ownerApi(started);
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

  it('shows the counts an SDK sent on the flag page, and the key that is no flag on the list', async () => {
    const stack = platform!;
    const now = Date.now();
    // Two applications name themselves (the SDKs' appName); the third record names none.
    const record = (id: string, app: string | undefined, counts: readonly { flag: string; variation: string | null; count: number }[]) => ({ type: 'evaluations', id, start: now - 10_000, timestamp: now, ...(app === undefined ? {} : { app }), counts });
    const records = [
      record('ev_e2e_console_1', 'checkout-api', [
        { flag: FLAG, variation: 'on', count: 1200 },
        { flag: FLAG, variation: 'off', count: 310 },
      ]),
      record('ev_e2e_console_2', undefined, [
        { flag: FLAG, variation: null, count: 40 },
        { flag: UNDEFINED_KEY, variation: null, count: 1 },
      ]),
      record('ev_e2e_console_3', 'web-shop', [{ flag: UNDEFINED_KEY, variation: null, count: 3 }]),
    ];
    const res = await fetch(`${stack.consoleUrl}/sdk/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-xp-sdk-key': stack.sdkKey }, body: JSON.stringify({ events: records }) });
    expect(res.status).toBe(202);

    // The pipeline aggregates the record: the API has the counts.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const project = await api.projectFlagEvaluations('demo', { days: 1 });
      if (project.flags.some((f) => f.flag === UNDEFINED_KEY && f.total === 4) && project.flags.some((f) => f.flag === FLAG && f.total === 1550)) {
        break;
      }
      if (Date.now() > deadline) {
        throw new Error(`the counts did not arrive within 60 s: ${JSON.stringify(project)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }

    // The flag page's Evaluations tab, in development (where the SDK key is).
    await page.goto(`${stack.consoleUrl}/#/flags/${FLAG}`);
    await page.getByRole('tab', { name: 'Evaluations' }).click();
    await page.getByRole('combobox', { name: 'Evaluations environment' }).selectOption('development');
    const totals = page.getByRole('table', { name: 'Evaluations per variation in Development' });
    await totals.waitFor(WAIT);
    expect(await totals.getByRole('row').allInnerTexts()).toEqual(['Served\tEvaluations\tShare', 'off\t310\t20.0%', 'on\t1,200\t77.4%', 'default served\t40\t2.6%', 'Total\t1,550\t100.0%']);
    await page.getByRole('figure', { name: 'Evaluations of new-checkout in Development, last 7 days, per day by served variation' }).waitFor(WAIT);
    expect(await page.getByRole('list', { name: 'Last evaluated per environment' }).getByRole('listitem').first().innerText()).toMatch(/^Last evaluated (just now|\d minutes? ago) in Development$/);
    // Counts arrive from development only, since this hour: the other environments receive none.
    expect(await page.getByRole('list', { name: 'Last evaluated per environment' }).getByRole('listitem').nth(1).innerText()).toMatch(/^No evaluation counts received in /);
    // Which applications evaluated it (all environments), and the counts of one alone (?app=).
    const perApp = page.getByRole('table', { name: 'Evaluations per application' });
    expect(await perApp.getByRole('row').allInnerTexts()).toEqual([
      expect.stringMatching(/^Application\tEvaluations\tShare\tLast evaluated$/),
      expect.stringMatching(/^checkout-api\t1,510\t97\.4%\t(just now|\d minutes? ago)$/),
      expect.stringMatching(/^No application named\t40\t2\.6%\t(just now|\d minutes? ago)$/),
    ]);
    await shot('flag-evaluations');
    expect(await seriousViolations(page)).toBe('');
    const application = page.getByRole('combobox', { name: 'Evaluations application' });
    expect(await application.locator('option').allInnerTexts()).toEqual(['All applications', 'checkout-api']);
    await application.selectOption('checkout-api');
    const filtered = page.getByRole('table', { name: 'Evaluations per variation by checkout-api in Development' });
    await filtered.waitFor(WAIT);
    expect(await filtered.getByRole('row').allInnerTexts()).toEqual(['Served\tEvaluations\tShare', 'off\t310\t20.5%', 'on\t1,200\t79.5%', 'Total\t1,510\t100.0%']);
    expect(await page.getByRole('list', { name: 'Last evaluated per environment' }).getByRole('listitem').first().innerText()).toMatch(/^Last evaluated (just now|\d minutes? ago) in Development by checkout-api$/);
    await shot('flag-evaluations-by-application');
    expect(await seriousViolations(page)).toBe('');

    // The flags list: when it was last evaluated, and the key the code asks for that is no flag.
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Flags' }).click();
    const undefinedKeys = page.getByRole('table', { name: 'Evaluated but not defined' });
    await undefinedKeys.waitFor(WAIT);
    const row = undefinedKeys.getByRole('row', { name: new RegExp(`^${UNDEFINED_KEY}`) });
    expect((await row.innerText()).split('\t').slice(0, 4)).toEqual([UNDEFINED_KEY, '4', 'Development 4', 'web-shop 3, No application named 1']);
    const flagRow = page.getByRole('table', { name: 'Flags' }).getByRole('row').filter({ has: page.getByText(FLAG, { exact: true }) });
    await flagRow.getByText(/^(just now|\d minutes? ago)$/).waitFor(WAIT);
    // Counting in development began this hour (the server's countingSince): a flag with no counts is only
    // "not evaluated since counting began", never "not in 90 days".
    const flagsTable = page.getByRole('table', { name: 'Flags' });
    await flagsTable.getByText(/^not evaluated since counting began \(\w{3} \d{1,2}, \d{4}, \d{2}:00 UTC\)$/).first().waitFor(WAIT);
    expect(await flagsTable.getByText('not in 90 days').count()).toBe(0);
    expect(await seriousViolations(page)).toBe('');
    await row.getByRole('button', { name: `Create flag ${UNDEFINED_KEY}` }).click();
    expect(await page.getByRole('dialog', { name: 'New flag' }).getByRole('textbox', { name: /^Key/ }).inputValue()).toBe(UNDEFINED_KEY);
    await shot('flags-evaluated-not-defined');
  }, 120_000);
});
