import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { XpApiClient } from '@xp/shared';
import type { Ruleset } from '@xp/shared';
import { ARTIFACTS_DIR, OWNER, launchChromium, startConsoleStack, ownerApi } from '../console-stack.js';
import type { ConsoleStack } from '../console-stack.js';

const FLAG = 'e2e-pricing-rules';
const SEGMENT = 'e2e-vip-accounts';
const EXPERIMENT = 'e2e-moved-split';
const AVAILABLE = 'Available to client-side SDKs (browsers, mobile apps)';
const WAIT = { timeout: 30_000 };

/**
 * Server-side-only flags and experiments, and the split history of a running experiment, through
 * the built console in Debian's Chromium against the `npm start` stack on real PostgreSQL: what the
 * console saves is checked where it matters, in the rulesets the SDK keys download.
 */
describe('console end to end: availability to client-side SDKs and split history', () => {
  let platform: ConsoleStack | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let api: XpApiClient;

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });

  /** The development ruleset as the SDK key downloads it (through the console's /sdk forwarding). */
  const ruleset = async (key: string): Promise<Ruleset> => {
    const res = await fetch(`${platform!.consoleUrl}/sdk/v1/ruleset`, { headers: { 'x-xp-sdk-key': key } });
    expect(res.status).toBe(200);
    return (await res.json()) as Ruleset;
  };
  /** Both views once `ready` holds for them: publishing follows the commit. */
  const rulesets = async (ready: (client: Ruleset, server: Ruleset) => boolean): Promise<{ client: Ruleset; server: Ruleset }> => {
    const deadline = Date.now() + WAIT.timeout;
    for (;;) {
      const [client, server] = await Promise.all([ruleset(platform!.clientSdkKey), ruleset(platform!.sdkKey)]);
      if (ready(client, server) || Date.now() > deadline) {
        return { client, server };
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  beforeAll(async () => {
    const [started, launched] = await Promise.all([startConsoleStack(), launchChromium()]);
    platform = started;
    browser = launched;
    api = await ownerApi(started);
    const context = await launched.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
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

  it('makes a flag server-side only from its settings: client-side keys stop getting it and its id list, server-side keys keep both', async () => {
    await api.create('demo', 'segments', { key: SEGMENT, name: 'E2E VIP accounts', type: 'ids', values: ['acct-1', 'acct-2'] });
    const created = await api.create('demo', 'flags', {
      key: FLAG,
      name: 'E2E pricing rules',
      type: 'boolean',
      variations: [{ key: 'off', value: false }, { key: 'on', value: true }],
      environments: { development: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'vips', type: 'force', variation: 'on', segments: [SEGMENT] }] } },
    });
    // Before: both kinds of key get the flag and the id list it names.
    const before = await rulesets((c) => c.flags[FLAG] !== undefined && c.savedGroups?.[SEGMENT] !== undefined);
    expect(before.client.flags[FLAG]).toBeDefined();
    expect(before.client.savedGroups?.[SEGMENT]).toBeDefined();

    await page.goto(`${platform!.consoleUrl}/#/flags/${FLAG}`);
    await page.getByRole('heading', { name: 'E2E pricing rules' }).waitFor(WAIT);
    expect(await page.getByText('server-side only', { exact: true }).count()).toBe(0);
    await page.getByRole('tab', { name: 'Settings' }).click();
    const available = page.getByRole('checkbox', { name: AVAILABLE });
    expect(await available.isChecked()).toBe(true);
    await available.uncheck();
    await shot('30-flag-server-side-only');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Saved.', { exact: true }).waitFor(WAIT);
    await page.getByText('server-side only', { exact: true }).waitFor(WAIT);

    const saved = await api.get('demo', 'flags', FLAG);
    expect(saved.version).toBe(created.version + 1);
    expect(saved.definition.clientSide).toBe(false);
    expect(saved.definition.environments).toEqual(created.definition.environments);

    const after = await rulesets((c) => c.flags[FLAG] === undefined);
    expect(after.client.flags[FLAG]).toBeUndefined();
    expect(after.client.savedGroups?.[SEGMENT]).toBeUndefined();
    expect(after.server.flags[FLAG]).toBeDefined();
    expect(after.server.savedGroups?.[SEGMENT]).toBeDefined();

    // The flags list marks it.
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Flags' }).click();
    const row = page.getByRole('table', { name: 'Flags' }).getByRole('row').filter({ has: page.getByText(FLAG, { exact: true }) });
    await row.getByText('server-side only', { exact: true }).waitFor(WAIT);
    expect(await page.getByRole('table', { name: 'Flags' }).getByText('server-side only', { exact: true }).count()).toBe(1);
    await shot('31-flags-list-server-side-only');

    // And back: available to both again.
    await page.goto(`${platform!.consoleUrl}/#/flags/${FLAG}`);
    await page.getByRole('tab', { name: 'Settings' }).click();
    await page.getByRole('checkbox', { name: AVAILABLE }).check();
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Saved.', { exact: true }).waitFor(WAIT);
    expect((await api.get('demo', 'flags', FLAG)).definition.clientSide ?? true).toBe(true);
    const again = await rulesets((c) => c.flags[FLAG] !== undefined);
    expect(again.client.flags[FLAG]).toBeDefined();
    expect(again.client.savedGroups?.[SEGMENT]).toBeDefined();
  }, 120_000);

  it("shows a running experiment's split history, and the console's edits keep it while making the experiment server-side only", async () => {
    const draft = await api.create('demo', 'experiments', {
      key: EXPERIMENT,
      name: 'E2E moved split',
      environments: ['development'],
      stickyBucketing: { enabled: true },
      variations: [
        { key: 'control', weight: 1, value: 'control' },
        { key: 'treatment', weight: 1, value: 'treatment' },
      ],
    });
    const started = await api.startExperiment('demo', EXPERIMENT, draft.version);
    // Moving the split of a started sticky experiment: the platform records the one served until now.
    const moved = await api.replace(
      'demo',
      'experiments',
      EXPERIMENT,
      {
        ...started.definition,
        variations: [
          { key: 'control', weight: 1, value: 'control' },
          { key: 'treatment', weight: 3, value: 'treatment' },
        ],
      },
      started.version,
    );
    const history = moved.definition.splitHistory ?? [];
    expect(history.map((h) => h.shares)).toEqual([{ control: 0.5, treatment: 0.5 }]);
    expect((await rulesets((c) => c.experiments?.[EXPERIMENT] !== undefined)).client.experiments?.[EXPERIMENT]).toBeDefined();

    await page.goto(`${platform!.consoleUrl}/#/experiments/${EXPERIMENT}`);
    await page.getByRole('heading', { name: 'E2E moved split' }).waitFor(WAIT);
    const list = page.getByRole('list', { name: 'Split history' });
    await list.waitFor(WAIT);
    expect(await list.getByRole('listitem').allInnerTexts()).toEqual([
      expect.stringMatching(/^Split until \S.*: control 50\.0% · treatment 50\.0%$/),
      expect.stringMatching(/^Split since \S.* \(current\): control 25\.0% · treatment 75\.0%$/),
    ]);
    await shot('32-experiment-split-history');

    // Every save of the experiment page sends the whole definition back: the history must survive them.
    await page.getByRole('button', { name: 'Dimensions…' }).click();
    await page.getByLabel('Dimensions (comma-separated)').fill('plan');
    await page.getByRole('button', { name: 'Save dimensions' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached', ...WAIT });

    await page.getByRole('button', { name: 'Settings…' }).click();
    const settings = page.getByRole('dialog', { name: 'Settings of E2E moved split' });
    await settings.getByRole('checkbox', { name: AVAILABLE }).uncheck();
    await settings.getByRole('button', { name: 'Save settings' }).click();
    await settings.waitFor({ state: 'detached', ...WAIT });
    await page.getByText('server-side only', { exact: true }).waitFor(WAIT);

    const saved = (await api.get('demo', 'experiments', EXPERIMENT)).definition;
    expect(saved.splitHistory).toEqual(history);
    expect([saved.status, saved.clientSide, saved.dimensions, saved.variations.map((v) => v.weight)]).toEqual(['running', false, ['plan'], [1, 3]]);
    const after = await rulesets((c) => c.experiments?.[EXPERIMENT] === undefined);
    expect(after.client.experiments?.[EXPERIMENT]).toBeUndefined();
    expect(after.server.experiments?.[EXPERIMENT]).toBeDefined();

    // The history is still shown after the saves and a reload.
    await page.reload();
    await page.getByRole('list', { name: 'Split history' }).waitFor(WAIT);
    expect(await page.getByRole('list', { name: 'Split history' }).getByRole('listitem').count()).toBe(2);
  }, 120_000);
});
