import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { XpApiClient } from '@xp/shared';
import { ARTIFACTS_DIR, addUserWithOwnPassword, launchChromium, startConsoleStack, ownerApi } from '../console-stack.js';
import type { ConsoleStack } from '../console-stack.js';

const FLAG = 'e2e-webhook-flag';
const ADMIN = { email: 'ops-lead@example.com', password: 'correct horse battery staple 41' };
const EDITOR = { email: 'flag-editor@example.com', password: 'purple lantern orchard 2027' };
const WEBHOOK = 'E2E receiver';
/** The URL's query holds a token, as Slack's URLs do: the console must never show it. */
const URL_TOKEN = 'e2e-url-token-4f1c';
const WAIT = { timeout: 30_000 };

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** An HTTP receiver on 127.0.0.1 that answers 200 and keeps what it got, for the test to wait on. */
async function startReceiver(): Promise<{ url: string; next: (match: (r: Received) => boolean) => Promise<Received>; close: () => Promise<void> }> {
  const received: Received[] = [];
  const waiters: { match: (r: Received) => boolean; resolve: (r: Received) => void }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(r);
      for (const w of waiters.filter((x) => x.match(r))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(r);
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('received by the e2e receiver');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/xp?token=${URL_TOKEN}`,
    next: (match) => {
      const already = received.find(match);
      if (already !== undefined) {
        return Promise.resolve(already);
      }
      return new Promise<Received>((resolve, reject) => {
        const waiter = { match, resolve };
        waiters.push(waiter);
        setTimeout(() => {
          if (waiters.includes(waiter)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            reject(new Error(`the receiver got no matching request in ${WAIT.timeout} ms (got ${received.map((r) => String(r.headers['x-xp-event'])).join(', ') || 'nothing'})`));
          }
        }, WAIT.timeout);
      });
    },
    close: () => new Promise<void>((resolve) => { server.close(() => { resolve(); }); }),
  };
}

/** Whether `X-XP-Signature: t=…,v1=…` is the HMAC-SHA256 of `${t}.${body}` with `secret`, signed within five minutes. */
function signedWith(secret: string, r: Received): boolean {
  const header = r.headers['x-xp-signature'];
  const parts = new Map((typeof header === 'string' ? header : '').split(',').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] as const));
  const t = parts.get('t') ?? '';
  const v1 = Buffer.from(parts.get('v1') ?? '', 'hex');
  const expected = createHmac('sha256', secret).update(`${t}.${r.body}`).digest();
  return Math.abs(Date.now() / 1000 - Number(t)) < 300 && v1.length === expected.length && timingSafeEqual(v1, expected);
}

/**
 * Webhooks through the built console in Debian's Chromium against the `npm start` stack on real
 * PostgreSQL, with a real receiver: an admin creates one, a flag change reaches the receiver signed
 * with the secret the console showed once, and the delivery log and "Send test" say so.
 */
describe('console end to end: webhooks', () => {
  let platform: ConsoleStack | undefined;
  let browser: Browser | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
  let page: Page;
  let api: XpApiClient;

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });

  const signIn = async (p: Page, who: { email: string; password: string }): Promise<void> => {
    await p.goto(platform!.consoleUrl);
    await p.getByLabel('Email').fill(who.email);
    await p.getByLabel('Password').fill(who.password);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('heading', { name: 'Flags' }).waitFor(WAIT);
  };

  beforeAll(async () => {
    const [started, launched, listening] = await Promise.all([startConsoleStack(), launchChromium(), startReceiver()]);
    platform = started;
    browser = launched;
    receiver = listening;
    api = await ownerApi(started);
    await addUserWithOwnPassword(started, api, { ...ADMIN, name: 'Ops lead', role: 'admin' });
    await addUserWithOwnPassword(started, api, { ...EDITOR, name: 'Flag editor', role: 'editor' });
    await api.create('demo', 'flags', {
      key: FLAG,
      name: 'E2E webhook flag',
      type: 'boolean',
      variations: [{ key: 'off', value: false }, { key: 'on', value: true }],
      environments: { development: { enabled: false, defaultVariation: 'off', offVariation: 'off', rules: [] } },
    });
    const context = await launched.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: started.consoleUrl });
    page = await context.newPage();
    await signIn(page, ADMIN);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await receiver?.close();
    await platform?.close();
  }, 60_000);

  it("sends a flag change to the receiver signed with the secret shown once, logs it as succeeded, and Send test shows the receiver's 2xx", async () => {
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor(WAIT);
    await page.getByText(/No webhooks in this project yet/).waitFor(WAIT);

    await page.getByRole('button', { name: 'New webhook' }).click();
    const form = page.getByRole('dialog', { name: 'New webhook' });
    await form.getByRole('textbox', { name: 'Name' }).fill(WEBHOOK);
    await form.getByRole('textbox', { name: 'URL' }).fill(receiver!.url);
    await form.getByRole('button', { name: 'Remove event *' }).click();
    await form.getByRole('combobox', { name: 'Add an event' }).fill('flag.*');
    await form.getByRole('button', { name: 'Add event' }).click();
    await form.getByRole('radio', { name: /Only changes made in these environments/ }).check();
    await form.getByRole('checkbox', { name: 'Development' }).check();
    await shot('40-webhook-form');
    await form.getByRole('button', { name: 'Create webhook' }).click();

    // The secret, shown once; copied with the button.
    const created = page.getByRole('dialog', { name: 'Webhook created' });
    const secret = (await created.locator('code.secret').textContent(WAIT)) ?? '';
    expect(secret).toMatch(/^whsec_/);
    await created.getByRole('button', { name: 'Copy secret' }).click();
    await created.getByText('Copied.', { exact: true }).waitFor(WAIT);
    // The e2e project has no DOM types: the page runs this as written.
    expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(secret);
    await shot('41-webhook-secret');
    await created.getByRole('button', { name: 'Done' }).click();

    const row = page.getByRole('table', { name: 'Webhooks' }).getByRole('row').filter({ hasText: WEBHOOK });
    await row.waitFor(WAIT);
    expect(await row.textContent()).toContain('http://127.0.0.1:');
    expect(await row.textContent()).toContain('Development');
    expect(await page.locator('body').textContent()).not.toContain(URL_TOKEN);
    expect(await page.locator('body').textContent()).not.toContain(secret);

    // A change in the console: the flag turned on in development.
    await page.getByRole('combobox', { name: 'Environment' }).selectOption('development');
    await page.goto(`${platform!.consoleUrl}/#/flags/${FLAG}`);
    await page.getByRole('heading', { name: 'E2E webhook flag' }).waitFor(WAIT);
    await page.getByRole('switch', { name: 'Flag on in Development' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Turn on' }).click();
    await page.getByText(/Turned on in Development/).waitFor(WAIT);

    const delivered = await receiver!.next((r) => r.headers['x-xp-event'] === 'flag.enabled');
    expect(signedWith(secret, delivered)).toBe(true);
    expect(signedWith(`${secret}x`, delivered)).toBe(false);
    expect(delivered.headers['content-type']).toBe('application/json');
    expect(delivered.headers['user-agent']).toBe('xp-webhooks/1');
    const body = JSON.parse(delivered.body) as { id: string; event: string; project: { key: string }; change: Record<string, unknown> };
    expect(body).toMatchObject({ id: delivered.headers['x-xp-delivery'], event: 'flag.enabled', project: { key: 'demo' } });
    expect(body.change).toMatchObject({ action: 'flag.enabled', resourceType: 'flag', resourceKey: FLAG, environment: 'development', actor: ADMIN.email, client: 'console' });
    const deliveryId = String(delivered.headers['x-xp-delivery']);

    // The webhook's page: the delivery as succeeded in the log, with what was sent and answered.
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('link', { name: WEBHOOK }).click();
    await page.getByRole('heading', { name: WEBHOOK }).waitFor(WAIT);
    const log = page.getByRole('table', { name: 'Deliveries' });
    const entry = log.getByRole('row').filter({ hasText: `#${deliveryId}` });
    await entry.filter({ hasText: 'succeeded' }).waitFor(WAIT);
    expect(await entry.textContent()).toContain('flag.enabled');
    expect(await entry.textContent()).toContain('HTTP 200');
    await page.getByRole('button', { name: `Details of delivery ${deliveryId}` }).click();
    expect(await page.getByLabel('Response body').first().textContent()).toBe('received by the e2e receiver');
    expect(await page.getByLabel('Payload').first().textContent()).toContain(FLAG);
    // Its attempts, from GET …/deliveries/{delivery}: one, answered 200 with the receiver's body.
    const attempts = page.getByRole('table', { name: `Attempts of delivery ${deliveryId}` });
    await attempts.waitFor(WAIT);
    expect(await attempts.getByRole('row').count()).toBe(2);
    expect(await attempts.getByRole('row').nth(1).textContent()).toMatch(/^1.*HTTP 200—[\d,]+ msreceived by the e2e receiver$/);
    await shot('42-webhook-deliveries');

    // The status filter asks the API: nothing failed, then the succeeded delivery again.
    const filter = page.getByRole('combobox', { name: 'Status' });
    await filter.selectOption('Failed');
    await page.getByText('No failed deliveries in the last 30 days.').waitFor(WAIT);
    await filter.selectOption('Succeeded');
    await entry.waitFor(WAIT);
    await filter.selectOption('All');

    await page.getByRole('button', { name: 'Send test' }).click();
    const result = page.getByRole('status', { name: 'Test delivery' });
    await result.waitFor(WAIT);
    expect(await result.textContent()).toMatch(/succeeded · 200/);
    expect(await result.textContent()).toMatch(/webhook\.test: HTTP 200 in [\d,]+ ms/);
    const test = await receiver!.next((r) => r.headers['x-xp-event'] === 'webhook.test');
    expect(signedWith(secret, test)).toBe(true);
    await log.getByRole('row').filter({ hasText: 'webhook.test' }).first().waitFor(WAIT);
    await shot('43-webhook-test');
  }, 120_000);

  it('offers editors no Webhooks screen, and the API refuses them', async () => {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const editor = await context.newPage();
      await signIn(editor, EDITOR);
      const nav = editor.getByRole('navigation', { name: 'Screens' });
      expect(await nav.getByRole('link', { name: 'Users & keys' }).count()).toBe(1);
      expect(await nav.getByRole('link', { name: 'Webhooks' }).count()).toBe(0);

      await editor.goto(`${platform!.consoleUrl}/#/webhooks`);
      await editor.getByRole('heading', { name: 'Webhooks' }).waitFor(WAIT);
      expect(await editor.getByRole('note').textContent()).toContain('Editors cannot manage webhooks: owners and admins do');
      expect(await editor.getByRole('table', { name: 'Webhooks' }).count()).toBe(0);
      await editor.screenshot({ path: path.join(ARTIFACTS_DIR, '44-webhooks-editor.png'), fullPage: true });
    } finally {
      await context.close();
    }
    const anonymous = new XpApiClient({ apiUrl: platform!.stack.apiUrl });
    const { token } = await anonymous.login(EDITOR.email, EDITOR.password);
    const res = await fetch(`${platform!.stack.apiUrl}/api/v1/projects/demo/webhooks`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(403);
  }, 60_000);
});
