import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import type { XpApiClient } from '@xp/shared';
import { ExperimentationClient } from '@xp/sdk';
import { ARTIFACTS_DIR, OWNER, launchChromium, startConsoleStack, ownerApi } from '../console-stack.js';
import type { ConsoleStack } from '../console-stack.js';

// Generous: under a loaded machine (CI beside other jobs) a screen has taken over 30 s to first render; the tests check accessibility, not speed.
const WAIT = { timeout: 60_000 };
const SEGMENT = 'a11y-beta-testers';
const TARGETED_FLAG = 'a11y-targeted';
const EXPERIMENT = 'demo-checkout-cta';
const WEBHOOK = 'A11y receiver';
const KEYBOARD_FLAG = 'a11y-keyboard-flag';
/** A temporary flag serving one variation everywhere: stale once its 30 days have passed. */
const STALE_FLAG = 'a11y-stale';
/** How far ahead the stale badge's test sets the browser's clock: past the 30 days a flag must stay unchanged. */
const STALE_AFTER_MS = 45 * 86_400_000;
/** The rule sets axe checks: WCAG 2.0 level A and AA. */
const WCAG_TAGS = ['wcag2a', 'wcag2aa'];
/** The impacts that fail the test; moderate and minor findings are printed only. */
const FAILING_IMPACTS = new Set(['serious', 'critical']);

/** axe-core's build, injected as source: the console's CSP (script-src 'self') refuses an injected <script>. */
const AXE_SOURCE = readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface Violation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly helpUrl: string;
  readonly nodes: readonly { readonly target: readonly unknown[]; readonly summary: string }[];
}

/** Runs axe over the whole document; only what the report needs crosses back from the page. */
async function audit(page: Page): Promise<Violation[]> {
  if ((await page.evaluate('typeof window.axe')) === 'undefined') {
    await page.evaluate(await AXE_SOURCE);
  }
  return page.evaluate<Violation[]>(`(async () => {
    const results = await window.axe.run(document, { runOnly: { type: 'tag', values: ${JSON.stringify(WCAG_TAGS)} }, resultTypes: ['violations'] });
    return results.violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? null,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary ?? '' })),
    }));
  })()`);
}

/** One line per violation, then its offending elements: what a developer needs to find and fix it. */
function report(screen: string, violations: readonly Violation[]): string {
  return violations
    .map((v) => [`${screen}: ${v.id} (${v.impact ?? 'no impact'}, ${v.nodes.length}×) ${v.help} — ${v.helpUrl}`, ...v.nodes.map((n) => `    ${n.target.map(String).join(' ')}: ${n.summary.replace(/\s+/g, ' ')}`)].join('\n'))
    .join('\n');
}

/** Fails on serious and critical violations, listing each rule, its help and the selectors. */
async function expectAccessible(page: Page, screen: string): Promise<void> {
  const violations = await audit(page);
  const minor = violations.filter((v) => !FAILING_IMPACTS.has(v.impact ?? ''));
  if (minor.length > 0) {
    console.info(`axe, not failing the test:\n${report(screen, minor)}`);
  }
  expect(report(screen, violations.filter((v) => FAILING_IMPACTS.has(v.impact ?? '')))).toBe('');
}

/** Waits until the screen's data has arrived: no spinner left. */
async function settled(page: Page): Promise<void> {
  await page.locator('.state-loading').first().waitFor({ state: 'detached', ...WAIT });
}

interface Screen {
  readonly name: string;
  /** The URL hash that opens it. */
  readonly hash: string;
  readonly heading: string | RegExp;
  /** What shows once its data is there, beyond the heading; then anything to open before the audit. */
  readonly ready?: (page: Page) => Promise<void>;
  /** A narrow window, where wide content scrolls inside its box. */
  readonly width?: number;
}

/** Every screen of the sidebar and router, each with data, and the states a user opens on them. */
const SCREENS: readonly Screen[] = [
  { name: 'flags list', hash: '#/flags', heading: 'Flags', ready: (p) => p.getByRole('table', { name: 'Flags' }).getByText('New checkout').waitFor(WAIT) },
  {
    name: 'flags list with archived flags',
    hash: '#/flags',
    heading: 'Flags',
    ready: async (p) => {
      await p.getByLabel('Show archived').check();
      await p.getByRole('table', { name: 'Flags' }).getByText('A11y archived').waitFor(WAIT);
    },
  },
  {
    name: 'flag targeting editor with evaluation',
    hash: `#/flags/${TARGETED_FLAG}`,
    heading: 'A11y targeted',
    ready: async (p) => {
      await p.getByRole('region', { name: 'Rule 2' }).waitFor(WAIT);
      await p.getByRole('button', { name: 'Evaluate', exact: true }).click();
      await p.getByRole('table', { name: 'Evaluation by environment' }).waitFor(WAIT);
    },
  },
  {
    name: 'flag settings',
    hash: `#/flags/${TARGETED_FLAG}`,
    heading: 'A11y targeted',
    ready: async (p) => {
      await p.getByRole('tab', { name: 'Settings' }).click();
      await settled(p);
    },
  },
  { name: 'experiments list', hash: '#/experiments', heading: 'Experiments', ready: (p) => p.getByText('Checkout call to action').first().waitFor(WAIT) },
  {
    name: 'experiment results',
    hash: `#/experiments/${EXPERIMENT}`,
    heading: 'Checkout call to action',
    ready: async (p) => {
      await p.getByRole('table', { name: 'Units per variation' }).waitFor({ timeout: 60_000 });
      await p.getByRole('region', { name: 'Metric Purchase rate' }).waitFor(WAIT);
    },
  },
  {
    name: 'experiment results by dimension',
    hash: `#/experiments/${EXPERIMENT}`,
    heading: 'Checkout call to action',
    ready: async (p) => {
      await p.getByRole('table', { name: 'Units per variation' }).waitFor({ timeout: 60_000 });
      await p.getByRole('combobox', { name: 'Dimension' }).selectOption('country');
      await p.getByRole('table', { name: 'Purchase rate by country' }).waitFor(WAIT);
    },
  },
  {
    name: 'experiment results in a narrow window',
    hash: `#/experiments/${EXPERIMENT}`,
    heading: 'Checkout call to action',
    width: 560,
    ready: (p) => p.getByRole('region', { name: 'Metric Purchase rate' }).waitFor({ timeout: 60_000 }),
  },
  {
    name: 'flag evaluation in a narrow window',
    hash: `#/flags/${TARGETED_FLAG}`,
    heading: 'A11y targeted',
    width: 700,
    ready: async (p) => {
      await p.getByRole('button', { name: 'Evaluate', exact: true }).click();
      await p.getByRole('table', { name: 'Evaluation by environment' }).waitFor(WAIT);
    },
  },
  { name: 'new experiment wizard', hash: '#/experiments/new', heading: 'New experiment' },
  {
    name: 'new experiment wizard, metrics and power steps',
    hash: '#/experiments/new',
    heading: 'New experiment',
    ready: async (p) => {
      await p.getByLabel('Key').fill('a11y-wizard');
      await p.getByLabel('Name').fill('A11y wizard');
      for (let i = 0; i < 3; i++) {
        await p.getByRole('button', { name: 'Next' }).click();
      }
      await p.getByLabel('Role of demo-purchase').selectOption('primary');
      await p.getByRole('button', { name: 'Next' }).click();
      await p.locator('output').first().waitFor(WAIT);
    },
  },
  { name: 'segments', hash: '#/segments', heading: 'Segments', ready: (p) => p.getByText(SEGMENT).first().waitFor(WAIT) },
  { name: 'metrics', hash: '#/metrics', heading: 'Metrics', ready: (p) => p.getByText('Purchase rate').first().waitFor(WAIT) },
  { name: 'code references', hash: '#/code-refs', heading: 'Code references', ready: (p) => p.getByText('src/checkout.ts').first().waitFor(WAIT) },
  { name: 'audit log', hash: '#/audit', heading: 'Audit log', ready: (p) => p.getByRole('table', { name: 'Audit entries' }).waitFor(WAIT) },
  { name: 'users, roles and keys', hash: '#/access', heading: 'Users, roles and keys', ready: (p) => p.getByText('a11y-editor@example.com').first().waitFor(WAIT) },
  { name: 'health', hash: '#/health', heading: 'Health', ready: (p) => p.getByText(/Database/).first().waitFor(WAIT) },
  { name: 'change requests', hash: '#/change-requests', heading: 'Change requests', ready: (p) => p.getByRole('list', { name: 'Change requests' }).waitFor(WAIT) },
  {
    name: 'events with a unit timeline',
    hash: '#/events',
    heading: 'Events',
    ready: async (p) => {
      const table = p.getByRole('table', { name: 'Events' });
      await table.getByRole('button', { name: /^Timeline of / }).first().click(WAIT);
      await p.getByRole('region', { name: /^Timeline of / }).waitFor(WAIT);
    },
  },
  { name: 'webhooks', hash: '#/webhooks', heading: 'Webhooks', ready: (p) => p.getByRole('table', { name: 'Webhooks' }).waitFor(WAIT) },
  { name: 'projects and environments', hash: '#/projects', heading: 'Projects', ready: (p) => p.getByRole('table', { name: 'Projects' }).getByText('demo').first().waitFor(WAIT) },
  {
    name: 'webhook with its deliveries',
    hash: '#/webhooks',
    heading: 'Webhooks',
    ready: async (p) => {
      await p.getByRole('link', { name: WEBHOOK }).click();
      await p.getByRole('heading', { name: WEBHOOK }).waitFor(WAIT);
      await p.getByRole('button', { name: /^Details of delivery / }).first().click(WAIT);
      await p.getByRole('table', { name: /^Attempts of delivery / }).waitFor(WAIT);
    },
  },
];

/** Modal dialogs, each opened from the screen at `hash` by the control of `role` named `opener`. */
const DIALOGS: readonly { readonly hash: string; readonly heading: string; readonly role: 'button' | 'switch'; readonly opener: string; readonly dialog: string }[] = [
  { hash: '#/flags', heading: 'Flags', role: 'button', opener: 'New flag', dialog: 'New flag' },
  { hash: '#/flags', heading: 'Flags', role: 'switch', opener: 'new-checkout in Development', dialog: 'Turn new-checkout off?' },
  { hash: '#/segments', heading: 'Segments', role: 'button', opener: 'New segment', dialog: 'New segment' },
  { hash: '#/metrics', heading: 'Metrics', role: 'button', opener: 'Edit demo-purchase', dialog: 'Edit metric demo-purchase' },
  { hash: '#/access', heading: 'Users, roles and keys', role: 'button', opener: 'Invite user', dialog: 'Invite a user' },
  { hash: '#/webhooks', heading: 'Webhooks', role: 'button', opener: 'New webhook', dialog: 'New webhook' },
  { hash: '#/projects', heading: 'Projects', role: 'button', opener: 'New project', dialog: 'New project' },
  { hash: `#/experiments/${EXPERIMENT}`, heading: 'Checkout call to action', role: 'button', opener: 'Decide…', dialog: 'Decide on Checkout call to action' },
];

/** Whether `target` has the keyboard focus. */
async function hasFocus(target: Locator): Promise<boolean> {
  // The e2e project has no DOM types: the element is read as the little it needs.
  return target.evaluate((el: { ownerDocument: { activeElement: unknown } }) => el === el.ownerDocument.activeElement);
}

/** Presses Tab (or Shift+Tab) until `target` has the focus, as a keyboard user would; fails after `max` presses. */
async function tabTo(page: Page, target: Locator, { back = false, max = 80 } = {}): Promise<void> {
  const visited: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    if (await hasFocus(target)) {
      return;
    }
    visited.push(await page.evaluate<string>(FOCUSED));
  }
  throw new Error(`${String(target)} never got the focus in ${max} presses of ${back ? 'Shift+Tab' : 'Tab'}; the focus went to ${[...new Set(visited)].join(', ')}`);
}

/** The focused element in a few words, for a failure's message. */
const FOCUSED = `(() => {
  const el = document.activeElement;
  if (el === null) { return 'nothing'; }
  const name = el.getAttribute('aria-label') ?? (el.labels?.[0]?.textContent ?? el.textContent ?? '').trim().slice(0, 40);
  return el.tagName.toLowerCase() + (name === '' ? '' : ' "' + name + '"');
})()`;

/**
 * Marks every live region now in the page; `announcedIn` then tells whether a message appeared in
 * one of them. A region added together with its text is often not announced, so it must be older.
 */
async function markLiveRegions(page: Page): Promise<void> {
  await page.evaluate('document.querySelectorAll("[role=status], [aria-live]").forEach((el) => el.setAttribute("data-e2e-live-before", ""))');
}

/** The live region `text` appeared in: polite or assertive, and whether it was there before `markLiveRegions`. */
async function announcedIn(page: Page, text: string): Promise<string> {
  return page.evaluate<string>(`(() => {
    const shown = [...document.querySelectorAll('main *')].find((el) => el.children.length === 0 && el.textContent.includes(${JSON.stringify(text)}));
    const region = shown?.closest('[role=status], [role=alert], [aria-live]');
    if (region === null || region === undefined) { return 'in no live region'; }
    const live = region.getAttribute('aria-live') ?? (region.getAttribute('role') === 'alert' ? 'assertive' : 'polite');
    return live + (region.hasAttribute('data-e2e-live-before') ? ', there before' : ', added with it');
  })()`);
}

/** What Chromium computes as the element's accessible description, as screen readers get it. */
async function accessibleDescription(page: Page, target: Locator): Promise<string> {
  await target.evaluate((el: { setAttribute(name: string, value: string): void }) => { el.setAttribute('data-e2e-probe', ''); });
  const cdp = await page.context().newCDPSession(page);
  try {
    const { root } = await cdp.send('DOM.getDocument', { depth: 0 });
    const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector: '[data-e2e-probe]' });
    const { nodes } = await cdp.send('Accessibility.getPartialAXTree', { nodeId, fetchRelatives: false });
    return String(nodes[0]?.description?.value ?? '');
  } finally {
    await cdp.detach();
    await target.evaluate((el: { removeAttribute(name: string): void }) => { el.removeAttribute('data-e2e-probe'); });
  }
}

/** Whether the focused element is inside an open modal dialog. */
function focusInDialog(page: Page): Promise<boolean> {
  return page.evaluate<boolean>('document.activeElement !== null && document.activeElement.closest("dialog[open]") !== null');
}

/**
 * The console for keyboard and screen-reader users: every screen and the usual dialogs, in both
 * themes, checked by axe-core against WCAG 2 A/AA in Debian's Chromium against the `npm start`
 * stack, and a flag created and turned on with the keyboard alone.
 */
describe('console accessibility', () => {
  let platform: ConsoleStack | undefined;
  let browser: Browser | undefined;
  let api: XpApiClient;

  const newPage = async (colorScheme: 'light' | 'dark'): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 900 }, colorScheme });
    return { context, page: await context.newPage() };
  };

  const signIn = async (page: Page): Promise<void> => {
    await page.getByLabel('Email').fill(OWNER.email);
    await page.getByLabel('Password').fill(OWNER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Flags' }).waitFor(WAIT);
  };

  const open = async (page: Page, hash: string, heading: string | RegExp): Promise<void> => {
    // Through another screen, so that a hash equal to the current one still remounts the screen.
    await page.goto(`${platform!.consoleUrl}/#/health`);
    await page.getByRole('heading', { name: 'Health', exact: true }).waitFor(WAIT);
    await page.goto(`${platform!.consoleUrl}/${hash}`);
    await page.getByRole('heading', { name: heading, exact: true }).waitFor(WAIT);
    await settled(page);
  };

  beforeAll(async () => {
    const [started, launched] = await Promise.all([startConsoleStack(), launchChromium()]);
    platform = started;
    browser = launched;
    api = await ownerApi(started);

    // Data for every screen: a segment used by a flag's rules, code references, a second user, a
    // webhook with a (failed) delivery, a change request, and SDK traffic for events and results.
    await api.create('demo', 'segments', { key: SEGMENT, name: 'Beta testers', type: 'condition', condition: { plan: { $in: ['beta', 'pro'] } } });
    await api.create('demo', 'flags', {
      key: TARGETED_FLAG,
      name: 'A11y targeted',
      type: 'boolean',
      variations: [{ key: 'off', value: false }, { key: 'on', value: true }],
      environments: {
        development: {
          enabled: true,
          defaultVariation: 'off',
          offVariation: 'off',
          rules: [
            { id: 'nl', type: 'force', variation: 'on', condition: { country: { $eq: 'NL' } } },
            { id: 'beta', type: 'rollout', variation: 'on', coverage: 0.25, segments: [SEGMENT] },
          ],
        },
      },
    });
    // No state anywhere: off everywhere, serving its false variation (not the first listed).
    await api.create('demo', 'flags', { key: STALE_FLAG, name: 'A11y stale', type: 'boolean', temporary: true, variations: [{ key: 'on', value: true }, { key: 'off', value: false }], environments: {} });
    const archived = await api.create('demo', 'flags', { key: 'a11y-archived', name: 'A11y archived', type: 'boolean', variations: [{ key: 'off', value: false }, { key: 'on', value: true }], environments: { development: { enabled: false, defaultVariation: 'off', offVariation: 'off' } } });
    await api.replace('demo', 'flags', archived.key, { ...archived.definition, archived: true }, archived.version);
    await api.uploadCodeRefs('demo', {
      repository: 'shop',
      branch: 'main',
      references: [{ flagKey: 'new-checkout', path: 'src/checkout.ts', line: 12, column: 7, snippet: "if (xp.isOn('new-checkout', user)) {", language: 'typescript' }],
    });
    await api.inviteUser({ email: 'a11y-editor@example.com', name: 'A11y Editor', role: 'editor', password: 'quiet meadow lantern 2031' });
    // Port 9 (discard) has no listener here: the delivery fails, and its log shows why.
    const hook = await api.createWebhook('demo', { name: WEBHOOK, url: 'http://127.0.0.1:9/hooks/xp' });
    await api.testWebhook('demo', hook.webhook.id).catch(() => undefined);
    const flag = await api.get('demo', 'flags', 'new-checkout');
    const production = flag.definition.environments.production!;
    await api.proposeChange('demo', { resourceKey: 'new-checkout', environment: 'production', state: { ...production, enabled: true }, baseVersion: flag.version, comment: 'Ship it to everyone' });

    const client = new ExperimentationClient(started.sdkKey, { apiUrl: started.consoleUrl });
    await client.ready();
    for (let i = 0; i < 200; i++) {
      const user = `a11y-user-${i}`;
      client.getVariant(EXPERIMENT, { id: user, attributes: { country: i % 2 === 0 ? 'NL' : 'DE', platform: 'web' } });
      if (i % 3 === 0) {
        client.trackEvent('demo_purchase', user, { amount: 20 });
      }
    }
    await client.close();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await platform?.close();
  }, 60_000);

  describe.each(['light', 'dark'] as const)('in the %s theme', (theme) => {
    let context: BrowserContext | undefined;
    let page: Page;

    beforeAll(async () => {
      ({ context, page } = await newPage(theme));
    });

    afterAll(async () => {
      await context?.close();
    });

    it('has no serious WCAG 2 A/AA violations on the sign-in page', async () => {
      await page.goto(platform!.consoleUrl);
      await page.getByRole('heading', { name: 'Sign in to xp' }).waitFor(WAIT);
      expect(await page.locator('html').getAttribute('data-theme')).toBe(theme);
      await expectAccessible(page, `sign-in (${theme})`);
      await signIn(page);
    }, 60_000);

    for (const screen of SCREENS) {
      it(`has no serious WCAG 2 A/AA violations on the ${screen.name} screen`, async () => {
        await page.setViewportSize({ width: screen.width ?? 1280, height: 900 });
        await open(page, screen.hash, screen.heading);
        await screen.ready?.(page);
        await settled(page);
        // Each screen names the window: what a screen reader announces on arrival.
        expect(await page.title()).toMatch(/^\S.* · xp console$/);
        await page.screenshot({ path: path.join(ARTIFACTS_DIR, `a11y-${theme}-${screen.name.replace(/[^a-z]+/g, '-')}.png`), fullPage: true });
        // One top-level heading names the screen; sections below it use h2 and deeper.
        expect(await page.getByRole('heading', { level: 1 }).count()).toBe(1);
        await expectAccessible(page, `${screen.name} (${theme})`);
      }, 90_000);
    }

    for (const d of DIALOGS) {
      it(`has no serious WCAG 2 A/AA violations in the ${d.dialog} dialog`, async () => {
        await open(page, d.hash, d.heading);
        const opener = page.getByRole(d.role, { name: d.opener, exact: true });
        await opener.click(WAIT);
        const dialog = page.getByRole('dialog', { name: d.dialog, exact: true });
        await dialog.waitFor(WAIT);
        expect(await focusInDialog(page)).toBe(true);
        await expectAccessible(page, `${d.dialog} dialog (${theme})`);
        await page.keyboard.press('Escape');
        await dialog.waitFor({ state: 'detached', ...WAIT });
        expect(await hasFocus(opener)).toBe(true);
      }, 60_000);
    }
  });

  describe('with the keyboard alone', () => {
    let context: BrowserContext | undefined;
    let page: Page;

    beforeAll(async () => {
      ({ context, page } = await newPage('light'));
      await page.goto(platform!.consoleUrl);
      await page.getByRole('heading', { name: 'Sign in to xp' }).waitFor(WAIT);
    });

    afterAll(async () => {
      await context?.close();
    });

    it('signs in, creates a flag in the New flag dialog and turns it on in Development', async () => {
      // Sign in: the email field first, then the password, then the button.
      await tabTo(page, page.getByLabel('Email'));
      await page.keyboard.type(OWNER.email);
      await page.keyboard.press('Tab');
      expect(await hasFocus(page.getByLabel('Password'))).toBe(true);
      await page.keyboard.type(OWNER.password);
      await page.keyboard.press('Enter');
      await page.getByRole('table', { name: 'Flags' }).waitFor(WAIT);

      // The dialog takes the focus, Escape closes it, and the focus goes back to its button.
      const newFlag = page.getByRole('button', { name: 'New flag', exact: true });
      await tabTo(page, newFlag);
      await page.keyboard.press('Enter');
      const dialog = page.getByRole('dialog', { name: 'New flag' });
      await dialog.waitFor(WAIT);
      expect(await focusInDialog(page)).toBe(true);
      expect(await hasFocus(dialog.getByLabel('Key'))).toBe(true);
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached', ...WAIT });
      expect(await hasFocus(newFlag)).toBe(true);

      // Tab stays in the open dialog: past its last button it comes back to its first field.
      await page.keyboard.press('Enter');
      await dialog.waitFor(WAIT);
      for (let i = 0; i < 12; i++) {
        await page.keyboard.press('Tab');
        expect(await focusInDialog(page)).toBe(true);
      }
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached', ...WAIT });
      expect(await hasFocus(newFlag)).toBe(true);

      // Create it: Space opens the dialog as Enter does; type, Tab between fields, Enter on the button.
      await page.keyboard.press('Space');
      await dialog.waitFor(WAIT);
      await page.keyboard.type(KEYBOARD_FLAG);
      await tabTo(page, dialog.getByLabel('Name'));
      await page.keyboard.type('Keyboard flag');
      await tabTo(page, dialog.getByLabel('Tags (comma-separated)'));
      await page.keyboard.type('a11y');
      await tabTo(page, dialog.getByRole('button', { name: 'Create flag' }));
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Keyboard flag' }).waitFor(WAIT);

      // A new flag is not set up in any environment: saving creates its state (off), then it can be turned on.
      await tabTo(page, page.getByRole('button', { name: 'Save', exact: true }));
      await markLiveRegions(page);
      await page.keyboard.press('Enter');
      await page.getByText(/Saved the targeting in Development/).waitFor(WAIT);
      // Said to screen-reader users where they are, in a live region that was waiting for it.
      expect(await announcedIn(page, 'Saved the targeting in Development')).toBe('polite, there before');
      const toggle = page.getByRole('switch', { name: 'Flag on in Development' });
      await tabTo(page, toggle);
      await page.keyboard.press('Space');
      const confirm = page.getByRole('dialog', { name: `Turn ${KEYBOARD_FLAG} on in Development?` });
      await confirm.waitFor(WAIT);
      expect(await focusInDialog(page)).toBe(true);
      await tabTo(page, confirm.getByRole('button', { name: 'Turn on' }));
      await markLiveRegions(page);
      await page.keyboard.press('Enter');
      await page.getByText(/Turned on in Development/).waitFor(WAIT);
      expect(await announcedIn(page, 'Turned on in Development')).toBe('polite, there before');
      await confirm.waitFor({ state: 'detached', ...WAIT });
      expect(await hasFocus(toggle)).toBe(true);
      expect(await toggle.isChecked()).toBe(true);

      const stored = await api.get('demo', 'flags', KEYBOARD_FLAG);
      expect([stored.definition.name, stored.definition.tags, stored.definition.environments.development?.enabled]).toEqual(['Keyboard flag', ['a11y'], true]);
    }, 90_000);

    it('switches the flag editor tabs with the arrow keys and reaches the sidebar', async () => {
      const targeting = page.getByRole('tab', { name: 'Targeting' });
      await tabTo(page, targeting, { back: true });
      expect(await targeting.getAttribute('aria-selected')).toBe('true');
      await page.keyboard.press('ArrowRight');
      const settings = page.getByRole('tab', { name: 'Settings' });
      expect(await hasFocus(settings)).toBe(true);
      expect(await settings.getAttribute('aria-selected')).toBe('true');
      expect(await page.getByRole('tabpanel', { name: 'Settings' }).count()).toBe(1);
      await page.keyboard.press('ArrowLeft');
      expect(await hasFocus(targeting)).toBe(true);

      const flags = page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Flags' });
      await tabTo(page, flags, { back: true });
      await page.keyboard.press('Enter');
      await page.getByRole('table', { name: 'Flags' }).getByRole('link', { name: 'Keyboard flag' }).waitFor(WAIT);
    }, 60_000);

    it('skips from the first Tab stop to the content and stays on the screen', async () => {
      // A fresh load: the focus starts at the top of the document.
      await page.goto(`${platform!.consoleUrl}/#/metrics`);
      await page.reload();
      await page.getByRole('heading', { name: 'Metrics', exact: true }).waitFor(WAIT);
      expect(await page.title()).toBe('Metrics · xp console');
      await page.keyboard.press('Tab');
      expect(await hasFocus(page.getByRole('link', { name: 'Skip to content' }))).toBe(true);
      await page.keyboard.press('Enter');
      expect(await hasFocus(page.getByRole('main'))).toBe(true);
      expect(new URL(page.url()).hash).toBe('#/metrics');
      await page.keyboard.press('Tab');
      expect(await page.evaluate<boolean>('document.querySelector("main").contains(document.activeElement)')).toBe(true);
      expect(await page.getByRole('heading', { name: 'Metrics', exact: true }).count()).toBe(1);
    }, 60_000);

    it("moves the focus to the new screen's heading when the screen changes, so screen readers name it", async () => {
      // Alt+3: the focus leaves the Metrics screen for the Segments heading.
      await page.goto(`${platform!.consoleUrl}/#/metrics`);
      await page.reload();
      await page.getByRole('heading', { name: 'Metrics', exact: true }).waitFor(WAIT);
      await page.keyboard.press('Tab');
      await page.keyboard.press('Alt+3');
      const segments = page.getByRole('heading', { name: 'Segments', level: 1 });
      await segments.waitFor(WAIT);
      // Polled from here: the console's CSP refuses the string predicates of waitForFunction.
      await expect.poll(() => hasFocus(segments), WAIT).toBe(true);
      expect(await segments.getAttribute('tabindex')).toBe('-1');

      // A sidebar link: the next Tab starts in the new screen, not back in the sidebar.
      const flagsLink = page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Flags' });
      await tabTo(page, flagsLink, { back: true });
      await page.keyboard.press('Enter');
      const flags = page.getByRole('heading', { name: 'Flags', level: 1 });
      await flags.waitFor(WAIT);
      await expect.poll(() => hasFocus(flags), WAIT).toBe(true);
      await page.keyboard.press('Tab');
      expect(await page.evaluate<boolean>('document.querySelector("main").contains(document.activeElement)')).toBe(true);

      // A flag's page, whose heading arrives with its data.
      const link = page.getByRole('table', { name: 'Flags' }).getByRole('link', { name: 'A11y targeted' });
      await tabTo(page, link);
      await page.keyboard.press('Enter');
      const flag = page.getByRole('heading', { name: 'A11y targeted', level: 1 });
      await flag.waitFor(WAIT);
      await expect.poll(() => hasFocus(flag), WAIT).toBe(true);
      expect(await page.title()).toBe('Flag a11y-targeted · xp console');
    }, 60_000);
  });

  describe('after a temporary flag has served one variation for over 30 days', () => {
    let context: BrowserContext | undefined;
    let page: Page;

    beforeAll(async () => {
      ({ context, page } = await newPage('light'));
      // The flag was created minutes ago: the browser's clock goes past its 30 days instead.
      await context.clock.setFixedTime(new Date(Date.now() + STALE_AFTER_MS));
      await page.goto(platform!.consoleUrl);
      await page.getByRole('heading', { name: 'Sign in to xp' }).waitFor(WAIT);
      await signIn(page);
    });

    afterAll(async () => {
      await context?.close();
    });

    it('explains the stale badge to screen readers and keyboard users, not in a tooltip', async () => {
      const row = page.getByRole('table', { name: 'Flags' }).getByRole('row').filter({ has: page.getByRole('link', { name: 'A11y stale' }) });
      await row.getByText('stale', { exact: true }).waitFor(WAIT);
      // A button, so that Tab reaches it and its description is read with it.
      const badge = row.getByRole('button', { name: 'stale', exact: true });
      expect(await badge.count()).toBe(1);
      const why = /^Serves off to everyone in every environment and unchanged since .+, over 30 days: remove it from the code, then archive it\.$/;
      expect(await accessibleDescription(page, badge)).toMatch(why);
      expect(await badge.getAttribute('title')).toBeNull();

      // Tab reaches it; Enter shows the sentence, Escape hides it again (hidden, it is a 1-pixel box for screen readers).
      const explanation = page.locator(`[id="${await badge.getAttribute('aria-describedby')}"]`);
      const width = async (): Promise<number> => (await explanation.boundingBox())?.width ?? 0;
      expect(await width()).toBeLessThanOrEqual(1);
      await page.getByRole('searchbox', { name: 'Search flags' }).focus();
      await tabTo(page, badge, { max: 200 });
      await page.keyboard.press('Enter');
      expect(await badge.getAttribute('aria-expanded')).toBe('true');
      expect(await width()).toBeGreaterThan(100);
      expect(await explanation.textContent()).toMatch(why);
      await expectAccessible(page, 'flags list with a stale badge explained');
      await page.keyboard.press('Escape');
      expect(await badge.getAttribute('aria-expanded')).toBe('false');
      expect(await width()).toBeLessThanOrEqual(1);
      expect(await hasFocus(badge)).toBe(true);
    }, 60_000);
  });
});
