import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ApiError, XpApiClient } from '@xp/shared';
import { ARTIFACTS_DIR, addUserWithOwnPassword, launchChromium, startConsoleStack, ownerApi } from '../console-stack.js';
import type { ConsoleStack } from '../console-stack.js';

const ADMIN = { email: 'people-admin@example.com', password: 'correct horse battery staple 52' };
const MEMBER = { email: 'forgetful@example.com', password: 'amber kettle violin 2029' };
const CHOSEN = 'juniper ocelot harbour 2032';
const CHANGED = 'saffron walrus meadow 2033';
const WAIT = { timeout: 30_000 };

/**
 * Passwords through the built console in Debian's Chromium against the `npm start` stack on real
 * PostgreSQL: an admin resets a member's password in Users & keys and sees the temporary password
 * once; the member signs in with it, must choose their own, and lands in the console; the
 * Change password dialog changes it again.
 */
describe('console end to end: passwords', () => {
  let platform: ConsoleStack | undefined;
  let browser: Browser | undefined;
  let adminContext: BrowserContext;
  let page: Page;
  let member: Page;
  let api: XpApiClient;
  let anonymous: XpApiClient;
  let memberToken = '';
  let temporary = '';

  const shot = (p: Page, name: string) => p.screenshot({ path: path.join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });

  const signIn = async (p: Page, who: { email: string; password: string }): Promise<void> => {
    await p.goto(platform!.consoleUrl);
    await p.getByLabel('Email').fill(who.email);
    await p.getByLabel('Password').fill(who.password);
    await p.getByRole('button', { name: 'Sign in' }).click();
  };

  beforeAll(async () => {
    const [started, launched] = await Promise.all([startConsoleStack(), launchChromium()]);
    platform = started;
    browser = launched;
    api = await ownerApi(started);
    anonymous = new XpApiClient({ apiUrl: started.stack.apiUrl });
    await addUserWithOwnPassword(started, api, { ...ADMIN, name: 'People admin', role: 'admin' });
    await addUserWithOwnPassword(started, api, { ...MEMBER, name: 'Forgetful member', role: 'editor' });
    // A session the member holds (a script, another machine): the reset ends it.
    memberToken = (await anonymous.login(MEMBER.email, MEMBER.password)).token;
    adminContext = await launched.newContext({ viewport: { width: 1280, height: 900 } });
    await adminContext.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: started.consoleUrl });
    page = await adminContext.newPage();
    await signIn(page, ADMIN);
    await page.getByRole('heading', { name: 'Flags' }).waitFor(WAIT);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await platform?.close();
  }, 60_000);

  it('lets an admin reset a password in Users & keys and shows the temporary password once, with a copy button', async () => {
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Users & keys' }).click();
    const row = page.getByRole('table', { name: 'Users' }).getByRole('row').filter({ hasText: MEMBER.email });
    await row.waitFor(WAIT);
    expect(await row.getByText('must choose a password').count()).toBe(0);

    await row.getByRole('button', { name: `Reset password of ${MEMBER.email}` }).click();
    const confirm = page.getByRole('dialog', { name: `Reset the password of ${MEMBER.email}?` });
    await confirm.getByRole('button', { name: 'Reset password' }).click();

    const shown = page.getByRole('dialog', { name: `Password of ${MEMBER.email} reset` });
    temporary = ((await shown.locator('code').textContent(WAIT)) ?? '').trim();
    expect(temporary.length).toBeGreaterThanOrEqual(16);
    await shown.getByText("Copy it now: you won't see it again.").waitFor(WAIT);
    await shown.getByRole('button', { name: 'Copy password' }).click();
    await shown.getByText('Copied.').waitFor(WAIT);
    expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(temporary);
    await shot(page, '60-password-reset');
    await shown.getByRole('button', { name: 'Done' }).click();

    // Once: closed, it is nowhere on the page; the list says the member must choose a password.
    await row.getByText('must choose a password').waitFor(WAIT);
    expect(await page.getByText(temporary).count()).toBe(0);
    // The member's session ended; their old password no longer signs in.
    await expect(anonymous.withToken(memberToken).me()).rejects.toMatchObject({ status: 401 });
    await expect(anonymous.login(MEMBER.email, MEMBER.password)).rejects.toMatchObject({ status: 401 });
  });

  it('asks the member who signs in with the temporary password to choose a new one, then lands in the console', async () => {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    member = await context.newPage();
    await signIn(member, { email: MEMBER.email, password: temporary });
    const choose = member.getByRole('group', { name: 'Choose a new password' });
    await choose.waitFor(WAIT);
    await shot(member, '61-choose-new-password');
    const newField = member.getByLabel('New password', { exact: true });
    const confirmField = member.getByLabel('Confirm new password', { exact: true });

    await newField.fill(CHOSEN);
    await confirmField.fill(`${CHOSEN} typo`);
    await member.getByRole('button', { name: 'Set password and sign in' }).click();
    await member.getByRole('alert').filter({ hasText: 'The new passwords do not match.' }).waitFor(WAIT);

    // The API's strength check, shown as it says it.
    await newField.fill('password1234');
    await confirmField.fill('password1234');
    await member.getByRole('button', { name: 'Set password and sign in' }).click();
    await member.getByRole('alert').filter({ hasText: /The new password is too weak/ }).waitFor(WAIT);

    await newField.fill(CHOSEN);
    await confirmField.fill(CHOSEN);
    await member.getByRole('button', { name: 'Set password and sign in' }).click();
    await member.getByRole('heading', { name: 'Flags' }).waitFor(WAIT);
    await member.getByText(`${MEMBER.email} · editor`).waitFor(WAIT);

    await expect(anonymous.login(MEMBER.email, temporary)).rejects.toMatchObject({ status: 401 });
    const users = await api.users({ q: MEMBER.email });
    expect(users.items.map((u) => [u.email, u.passwordChangeRequired])).toEqual([[MEMBER.email, false]]);
  });

  it('changes the password from the Change password dialog, and says the other sessions ended', async () => {
    const other = (await anonymous.login(MEMBER.email, CHOSEN)).token;

    await member.getByRole('button', { name: 'Change password…' }).click();
    const dialog = member.getByRole('dialog', { name: 'Change password' });
    // A wrong current password is said so in the dialog, not taken for an expired session.
    await dialog.getByLabel('Current password').fill('not my password at all');
    await dialog.getByLabel('New password', { exact: true }).fill(CHANGED);
    await dialog.getByLabel('Confirm new password').fill(CHANGED);
    await dialog.getByRole('button', { name: 'Change password' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'current password is wrong' }).waitFor(WAIT);
    expect(await member.getByRole('dialog', { name: 'Your session has expired' }).count()).toBe(0);

    await dialog.getByLabel('Current password').fill(CHOSEN);
    await dialog.getByRole('button', { name: 'Change password' }).click();
    const done = member.getByRole('dialog', { name: 'Password changed' });
    await done.getByText(/Your other sessions have ended/).waitFor(WAIT);
    await shot(member, '62-password-changed');
    await done.getByRole('button', { name: 'Done' }).click();

    // This session stays; the other one ended; the new password signs in.
    await member.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Experiments' }).click();
    await member.getByRole('heading', { name: 'Experiments' }).waitFor(WAIT);
    expect(await member.getByRole('dialog', { name: 'Your session has expired' }).count()).toBe(0);
    const ended = await anonymous.withToken(other).me().then(() => null, (e: unknown) => e);
    expect(ended instanceof ApiError ? ended.status : ended).toBe(401);
    expect((await anonymous.login(MEMBER.email, CHANGED)).user.email).toBe(MEMBER.email);
  });

  it('lifts a login lockout from Users & keys: the locked-out member signs in at once', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6 && statuses.at(-1) !== 429; i++) {
      statuses.push(await anonymous.login(MEMBER.email, `a wrong guess ${i}`).then(() => 200, (e: unknown) => (e instanceof ApiError ? e.status : 0)));
    }
    expect(statuses.at(-1)).toBe(429);
    await expect(anonymous.login(MEMBER.email, CHANGED)).rejects.toMatchObject({ status: 429 });

    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Users & keys' }).click();
    const row = page.getByRole('table', { name: 'Users' }).getByRole('row').filter({ hasText: MEMBER.email });
    await row.getByRole('button', { name: `Unlock sign-in of ${MEMBER.email}` }).click();
    await page.getByRole('status').filter({ hasText: `${MEMBER.email} can sign in again: the failed logins counted against them are forgotten (from 1 address).` }).waitFor(WAIT);

    expect((await anonymous.login(MEMBER.email, CHANGED)).user.email).toBe(MEMBER.email);
  });
});

