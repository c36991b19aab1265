import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import { XpApiClient } from '@xp/shared';
import { ARTIFACTS_DIR, OWNER, addUserWithOwnPassword, launchChromium, startConsoleStack, ownerApi } from '../console-stack.js';
import type { ConsoleStack } from '../console-stack.js';
import { seriousViolations } from '../axe.js';

const ADMIN = { email: 'robot-keeper@example.com', password: 'copper lantern meadow 2031' };
const ACCOUNT = 'e2e-deploy';
const ADMIN_ROBOT = 'e2e-owner-robot';
const WAIT = { timeout: 30_000 };

/**
 * Service accounts through the built console in Debian's Chromium against the `npm start` stack on
 * real PostgreSQL: the owner creates one with a project role, mints a token (shown once, copied)
 * that then acts as it on the API, disables and enables it, revokes the token and deletes the
 * account; the API's refusal of a blank name shows beside the field; an admin is offered at most
 * editor and no actions on an admin account.
 */
describe('console end to end: service accounts', () => {
  let platform: ConsoleStack | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let api: XpApiClient;
  let anonymous: XpApiClient;
  let project = '';

  const shot = (p: Page, name: string) => p.screenshot({ path: path.join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });
  const signIn = async (p: Page, who: { email: string; password: string }): Promise<void> => {
    await p.goto(platform!.consoleUrl);
    await p.getByLabel('Email').fill(who.email);
    await p.getByLabel('Password').fill(who.password);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('heading', { name: 'Flags' }).waitFor(WAIT);
    await p.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Users & keys' }).click();
  };
  const section = (p: Page): Locator => p.getByRole('region', { name: 'Service accounts' });
  const rowOf = (p: Page, name: string): Locator => p.getByRole('table', { name: 'Service accounts' }).getByRole('row').filter({ hasText: name });

  beforeAll(async () => {
    const [started, launched] = await Promise.all([startConsoleStack(), launchChromium()]);
    platform = started;
    browser = launched;
    api = await ownerApi(started);
    anonymous = new XpApiClient({ apiUrl: started.stack.apiUrl });
    project = (await api.projects())[0]?.key ?? '';
    await addUserWithOwnPassword(started, api, { ...ADMIN, name: 'Robot keeper', role: 'admin' });
    await api.createServiceAccount({ name: ADMIN_ROBOT, role: 'admin' });
    const context = await launched.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: started.consoleUrl });
    page = await context.newPage();
    await signIn(page, OWNER);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await platform?.close();
  }, 60_000);

  it("shows the API's refusal of a blank name beside the Name field", async () => {
    await section(page).getByRole('button', { name: 'New service account' }).click();
    const form = page.getByRole('dialog', { name: 'New service account' });
    const name = form.getByRole('textbox', { name: 'Name' });
    await name.fill('   ');
    await form.getByRole('button', { name: 'Create service account' }).click();
    await form.getByRole('alert').filter({ hasText: 'Name is required' }).waitFor(WAIT);
    expect(await name.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator(`#${(await name.getAttribute('aria-describedby'))!.replaceAll(':', '\\:')}`).textContent()).toBe('Name is required');
    expect(await seriousViolations(page)).toBe('');
    await form.getByRole('button', { name: 'Cancel' }).click();
    await form.waitFor({ state: 'detached', ...WAIT });
    expect((await api.serviceAccounts()).items.map((a) => a.name)).toEqual([ADMIN_ROBOT]);
  });

  it('creates an account with a project role and mints a token, shown once, that acts as it', async () => {
    await section(page).getByRole('button', { name: 'New service account' }).click();
    const form = page.getByRole('dialog', { name: 'New service account' });
    await form.getByRole('textbox', { name: 'Name' }).fill(ACCOUNT);
    await form.getByRole('textbox', { name: 'Description' }).fill('Applies flags/ from main');
    await form.getByRole('combobox', { name: 'Role', exact: true }).selectOption('viewer');
    await form.getByRole('button', { name: 'Add a project role' }).click();
    await form.getByRole('combobox', { name: 'Project of project role 1' }).selectOption(project);
    await form.getByRole('combobox', { name: 'Role in project role 1' }).selectOption('editor');
    await shot(page, '70-service-account-new');
    await form.getByRole('button', { name: 'Create service account' }).click();
    await form.waitFor({ state: 'detached', ...WAIT });

    const row = rowOf(page, ACCOUNT);
    await row.getByText(`${project}: editor`).waitFor(WAIT);
    expect(await row.textContent()).toContain('Applies flags/ from main');
    const created = (await api.serviceAccounts()).items.find((a) => a.name === ACCOUNT)!;
    expect([created.role, created.projectRoles]).toEqual(['viewer', [{ project, role: 'editor' }]]);

    // Opened with the keyboard: the focus lands on the panel it opened.
    await row.getByRole('button', { name: `Tokens of ${ACCOUNT}` }).focus();
    await page.keyboard.press('Enter');
    const panel = page.getByRole('region', { name: `Tokens of ${ACCOUNT}` });
    await panel.getByText('No tokens yet').waitFor(WAIT);
    expect(await page.evaluate('document.activeElement?.textContent')).toBe(`Tokens of ${ACCOUNT}`);

    await panel.getByRole('textbox', { name: 'Token name' }).fill('github actions');
    await panel.getByRole('combobox', { name: 'Expires after' }).selectOption({ label: '30 days' });
    await panel.getByRole('button', { name: 'Mint token' }).click();
    const shown = page.getByRole('dialog', { name: `Token of ${ACCOUNT} created` });
    const secret = ((await shown.getByLabel('Token', { exact: true }).textContent(WAIT)) ?? '').trim();
    expect(secret).toMatch(/^xpp_/);
    await shown.getByText("Copy it now: you won't see it again.").waitFor(WAIT);
    await shown.getByRole('button', { name: 'Copy token' }).click();
    await shown.getByText('Copied.').waitFor(WAIT);
    expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(secret);
    expect(await seriousViolations(page)).toBe('');
    await shown.getByRole('button', { name: 'Done' }).click();
    await shown.waitFor({ state: 'detached', ...WAIT });
    expect(await page.getByText(secret).count()).toBe(0);

    const minted = panel.getByRole('table', { name: `Tokens of ${ACCOUNT}` }).getByRole('row').filter({ hasText: 'github actions' });
    await minted.waitFor(WAIT);
    expect(await minted.textContent()).toContain("the account's role · all projects");
    await shot(page, '71-service-account-tokens');
    expect(await seriousViolations(page)).toBe('');

    // The token acts as the account, with its role in the project.
    const robot = anonymous.withToken(secret);
    const me = await robot.me();
    expect([me.kind, me.name, me.role]).toEqual(['service', ACCOUNT, 'viewer']);
  });

  it('disables the account (its token answers 401), enables it again, and revokes the token', async () => {
    const row = rowOf(page, ACCOUNT);
    const panel = page.getByRole('region', { name: `Tokens of ${ACCOUNT}` });
    // A second token, minted for this test through the API: the console lists it too.
    const account = (await api.serviceAccounts()).items.find((a) => a.name === ACCOUNT)!;
    const { token } = await api.createServiceAccountToken(account.id, { name: 'deploy job' });
    await panel.getByRole('button', { name: 'Close tokens' }).click();
    await row.getByRole('button', { name: `Tokens of ${ACCOUNT}` }).click();
    await panel.getByRole('cell', { name: 'deploy job', exact: true }).waitFor(WAIT);

    await row.getByRole('button', { name: `Disable ${ACCOUNT}` }).click();
    const confirm = page.getByRole('dialog', { name: `Disable ${ACCOUNT}?` });
    await confirm.getByRole('button', { name: 'Disable service account' }).click();
    await row.getByText('disabled').waitFor(WAIT);
    await expect(anonymous.withToken(token).me()).rejects.toMatchObject({ status: 401 });

    await row.getByRole('button', { name: `Enable ${ACCOUNT}` }).click();
    await row.getByText('active').waitFor(WAIT);
    expect((await anonymous.withToken(token).me()).name).toBe(ACCOUNT);

    const job = panel.getByRole('row').filter({ hasText: 'deploy job' });
    await job.getByRole('button', { name: 'Revoke token deploy job' }).click();
    await page.getByRole('dialog', { name: `Revoke token deploy job of ${ACCOUNT}?` }).getByRole('button', { name: 'Revoke token' }).click();
    await job.getByText('revoked').waitFor(WAIT);
    await expect(anonymous.withToken(token).me()).rejects.toMatchObject({ status: 401 });
  });

  it('offers an admin at most editor and no actions on an admin account', async () => {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    const admin = await context.newPage();
    await signIn(admin, ADMIN);
    const robot = rowOf(admin, ADMIN_ROBOT);
    await robot.getByText('An owner manages it').waitFor(WAIT);
    expect(await robot.getByRole('button').count()).toBe(0);
    await rowOf(admin, ACCOUNT).getByRole('button', { name: `Edit ${ACCOUNT}` }).waitFor(WAIT);

    await section(admin).getByRole('button', { name: 'New service account' }).click();
    const form = admin.getByRole('dialog', { name: 'New service account' });
    const roles = await form.getByRole('combobox', { name: 'Role', exact: true }).locator('option').allTextContents();
    expect(roles).toEqual(['editor', 'analyst', 'viewer']);
    await form.getByRole('button', { name: 'Cancel' }).click();
    await context.close();
  });

  it('deletes the account after a confirmation that says its tokens are revoked', async () => {
    const account = (await api.serviceAccounts()).items.find((a) => a.name === ACCOUNT)!;
    const { token } = await api.createServiceAccountToken(account.id, { name: 'last one' });
    await rowOf(page, ACCOUNT).getByRole('button', { name: `Delete ${ACCOUNT}` }).click();
    const confirm = page.getByRole('dialog', { name: `Delete ${ACCOUNT}?` });
    expect(await confirm.textContent()).toContain('Its tokens are revoked at once');
    await confirm.getByRole('button', { name: 'Delete and revoke its tokens' }).click();
    // The API answers what the deletion ended: this token and any other still live.
    await section(page).getByRole('status').filter({ hasText: new RegExp(`^${ACCOUNT} is deleted: [1-9]\\d* tokens? revoked`) }).waitFor(WAIT);
    await rowOf(page, ACCOUNT).waitFor({ state: 'detached', ...WAIT });
    expect(await page.getByRole('region', { name: `Tokens of ${ACCOUNT}` }).count()).toBe(0);
    await expect(anonymous.withToken(token).me()).rejects.toMatchObject({ status: 401 });
    expect((await api.serviceAccounts()).items.map((a) => a.name)).toEqual([ADMIN_ROBOT]);
  });
});
