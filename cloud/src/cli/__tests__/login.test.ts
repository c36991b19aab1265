import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ssoConfirmationCode } from '@xp/shared';
import { loadSsoConfig } from '../../auth/sso-config.js';
import type { SsoConfig } from '../../auth/sso-config.js';
import { pgliteTarget } from '../../store/__tests__/test-databases.js';
import type { Platform } from '../../http/__tests__/harness.js';
import { INVITED_PASSWORD, OWNER, signedInAs, startPlatform } from '../../http/__tests__/harness.js';
import { startTestIdp } from '../../http/__tests__/sso-idp.js';
import type { TestIdp } from '../../http/__tests__/sso-idp.js';
import { main } from '../xp.js';
import { noBrowserReason, tokenName } from '../login.js';
import { serveApi } from './cli-over-http.js';

/**
 * `xp login`, `xp logout`, `xp whoami` and the stored credentials, against a real platform served
 * over HTTP that trusts the real test OpenID provider. For single sign-on the test is the browser:
 * it reads the start URL and the confirmation code the CLI prints, follows the URL through the IdP,
 * checks the code on the xp site's confirmation page and follows its Continue link to the CLI's
 * loopback listener. Each test has its own XP_CONFIG_DIR.
 */
describe('xp login, logout and whoami against a platform over HTTP', () => {
  const SECRET = 'the-client-secret-of-the-cli-test-rp';
  let p: Platform;
  let idp: TestIdp;
  let served: { url: string; close: () => Promise<void> };
  let owner = '';
  let ssoConfig: (env?: Record<string, string>) => SsoConfig;
  const box: { sso: SsoConfig | undefined } = { sso: undefined };
  let configDir = '';
  let env: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    p = await startPlatform(pgliteTarget(), {
      deps: (d) => ({
        ...d,
        get sso() {
          return box.sso;
        },
      }),
    });
    served = await serveApi(p);
    // The IdP sends the browser back to this very server (no loopback hop between 127.0.0.1 and localhost).
    const redirectUrl = `${served.url}/api/v1/auth/sso/callback`;
    idp = await startTestIdp([{ clientId: 'xp', clientSecret: SECRET, redirectUri: redirectUrl }]);
    ssoConfig = (extra = {}) => loadSsoConfig({ XP_SSO_ISSUER: idp.issuer, XP_SSO_CLIENT_ID: 'xp', XP_SSO_CLIENT_SECRET: SECRET, XP_SSO_NAME: 'Okta', ...extra }, { redirectUrl })!;
    box.sso = ssoConfig();
    owner = await p.login(OWNER.email, OWNER.password);
  }, 120_000);
  afterAll(async () => {
    await served.close();
    await idp.close();
    await p.close();
  });
  beforeEach(async () => {
    configDir = await mkdtemp(path.join(tmpdir(), 'xp-login-'));
    env = { XP_CONFIG_DIR: path.join(configDir, 'xp'), XP_NO_BROWSER: '1' };
    box.sso = ssoConfig();
  });
  afterEach(async () => {
    await rm(configDir, { recursive: true, force: true });
  });

  const credentialsFile = (): string => path.join(configDir, 'xp', 'credentials.json');
  const stored = async (): Promise<{ apiUrl: string; token: string; tokenId: string; email: string }> => JSON.parse(await readFile(credentialsFile(), 'utf8'));
  const exists = async (file: string): Promise<boolean> =>
    stat(file).then(
      () => true,
      () => false,
    );

  /** Runs `xp args` in-process: exit code, stdout and stderr lines; `stdin` as the command's standard input. */
  async function xp(args: string[], extraEnv: NodeJS.ProcessEnv = {}, stdin: NodeJS.ReadableStream = Readable.from([])): Promise<{ code: number; out: string[]; err: string[] }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(args, { ...env, ...extraEnv }, (l) => out.push(l), (l) => err.push(l), stdin);
    return { code, out, err };
  }

  /**
   * `xp login --sso` while the test plays the browser: once the CLI printed the start URL and its
   * code, the browser signs in at the IdP as `account` (null: cancels there), checks the code on the
   * confirmation page and continues to the CLI. The CLI's result, and the page the browser saw.
   */
  async function ssoLogin(account: string | null, args: string[] = ['--sso'], loginEnv: NodeJS.ProcessEnv = env): Promise<{ code: number; out: string[]; err: string[]; page: string | null; shown: string }> {
    const out: string[] = [];
    const err: string[] = [];
    let printed: (value: { url: string; code: string }) => void = () => undefined;
    const ready = new Promise<{ url: string; code: string }>((resolve) => {
      printed = resolve;
    });
    let url = '';
    const cli = main(['login', '--api-url', served.url, ...args], loginEnv, (l) => out.push(l), (l) => {
      err.push(l);
      url = /^\s+(http:\/\/\S+\/api\/v1\/auth\/sso\/start\?\S+|http:\/\/127\.0\.0\.1:\d+\/sso\/begin)$/.exec(l)?.[1] ?? url;
      const shown = /shows the code ([A-Z2-7]{4}-[A-Z2-7]{4})\.$/.exec(l)?.[1];
      if (shown !== undefined) {
        printed({ url, code: shown });
      }
    });
    const first = await Promise.race([ready, cli.then(() => null)]);
    if (first === null) {
      return { code: await cli, out, err, page: null, shown: '' };
    }
    // The browser: the listener's /sso/begin when that is what was printed (a redirect to the start), the
    // API's start (it sets the sign-in's cookie), the IdP, the API's callback.
    let startUrl = first.url;
    if (first.url.endsWith('/sso/begin')) {
      const begin = await fetch(first.url, { redirect: 'manual' });
      expect(begin.status).toBe(302);
      startUrl = begin.headers.get('location')!;
    }
    const start = await fetch(startUrl, { redirect: 'manual' });
    expect(start.status).toBe(302);
    const cookie = start.headers.get('set-cookie')!.split(';')[0]!;
    const atIdp = start.headers.get('location')!;
    const back = account === null ? await idp.cancel(atIdp) : await idp.signIn(atIdp, account);
    const callback = await fetch(back, { redirect: 'manual', headers: { cookie } });
    let page: string | null = null;
    let onward: string;
    if (callback.status === 200) {
      page = await callback.text();
      // The person continues only when the page shows the code the CLI printed.
      expect(/<p class="code" id="code">([^<]+)<\/p>/.exec(page)?.[1]).toBe(first.code);
      onward = /<a class="continue" id="continue" href="([^"]+)"/.exec(page)![1]!.replaceAll('&amp;', '&');
    } else {
      expect(callback.status).toBe(302);
      onward = callback.headers.get('location')!;
    }
    expect(onward).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/sso\/callback\?/);
    const landed = await fetch(onward);
    await landed.text();
    return { code: await cli, out, err, page, shown: first.code };
  }

  const userId = async (email: string): Promise<string> => (await p.db.query<{ id: string }>('SELECT id FROM users WHERE email = $1', [email])).rows[0]!.id;

  it('signs in with SSO in the browser: stores a token "xp CLI on <host>" (0600 in a 0700 folder), ends the session, and API commands use it', async () => {
    idp.accounts.set('cli-sub', { email: 'cli@example.com', email_verified: true, name: 'Cli User' });

    const login = await ssoLogin('cli-sub');

    expect(login.code).toBe(0);
    expect(login.err[0]).toBe('To sign in with Okta, open this page in a browser on this computer:');
    expect(login.page).toContain('Sign in to the xp app (desktop or command line) on this computer as cli@example.com?');
    expect(login.page).toContain(`it shows the code</p>\n<p class="code" id="code">${login.shown}</p>`);
    expect(login.out).toEqual([`Logged in to ${served.url} as cli@example.com (role viewer).`]);
    const file = credentialsFile();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
    const saved = await stored();
    expect(Object.keys(saved).sort()).toEqual(['apiUrl', 'email', 'token', 'tokenId']);
    expect([saved.apiUrl, saved.email]).toEqual([served.url, 'cli@example.com']);
    // The token is never printed.
    expect([...login.out, ...login.err].filter((l) => l.includes(saved.token))).toEqual([]);
    const id = await userId('cli@example.com');
    const tokens = await p.db.query<{ id: string; name: string; revoked_at: Date | null }>('SELECT id, name, revoked_at FROM access_tokens WHERE user_id = $1', [id]);
    expect(tokens.rows).toEqual([{ id: saved.tokenId, name: `xp CLI on ${hostname()}`, revoked_at: null }]);
    // The SSO session made only the token: it was ended.
    const sessions = await p.db.query<{ revoked_at: Date | null }>('SELECT revoked_at FROM sessions WHERE user_id = $1', [id]);
    expect(sessions.rows.length).toBe(1);
    expect(sessions.rows.every((s) => s.revoked_at !== null)).toBe(true);

    const whoami = await xp(['whoami']);
    expect(whoami).toEqual({ code: 0, err: [], out: ['cli@example.com (role viewer)', `API: ${served.url}`, `Credentials: ${file} (xp login)`] });
    const exported = await xp(['export', '--project', 'demo', '--format', 'json']);
    expect(exported.code).toBe(0);
    expect(JSON.parse(exported.out.join('\n'))).toMatchObject({ xp: 1, project: 'demo' });
    // Audited as the CLI's.
    const clients = await p.db.query<{ client: string }>("SELECT client FROM audit_log WHERE action = 'token.created' AND actor_id = $1", [id]);
    expect(clients.rows.map((r) => r.client)).toEqual(['cli']);
  });

  it('signs in with SSO without --sso when the API offers it, and reports a sign-in cancelled at the IdP without storing anything', async () => {
    const cancelled = await ssoLogin(null, []);

    expect(cancelled.code).toBe(1);
    expect(cancelled.page).toBeNull();
    expect(cancelled.err.at(-1)).toBe('error: single sign-on failed (denied): it was cancelled, or your identity provider refused it; nothing was stored');
    expect(await exists(credentialsFile())).toBe(false);
  });

  it('signs in with a password from standard input; a wrong one fails without a file; an account SSO is enforced for is told to use --sso', async () => {
    const wrong = await xp(['login', '--api-url', served.url, '--email', OWNER.email], {}, Readable.from([Buffer.from('not the password\n')]));
    expect(wrong.code).toBe(1);
    expect(wrong.err.at(-1)).toMatch(/^error: .*(password|credentials)/i);
    expect(await exists(credentialsFile())).toBe(false);

    const right = await xp(['login', '--api-url', `${served.url}/`, '--email', OWNER.email], {}, Readable.from([Buffer.from(`${OWNER.password}\n`)]));
    expect(right.code).toBe(0);
    expect(right.out).toEqual([`Logged in to ${served.url} as ${OWNER.email} (role owner).`]);
    expect((await stored()).email).toBe(OWNER.email);
    expect((await stat(credentialsFile())).mode & 0o777).toBe(0o600);

    await signedInAs(p, owner, 'editor', 'eve-cli@example.com');
    box.sso = ssoConfig({ XP_SSO_ENFORCED: 'true' });
    await rm(credentialsFile());
    const enforced = await xp(['login', '--api-url', served.url, '--email', 'eve-cli@example.com'], {}, Readable.from([Buffer.from(INVITED_PASSWORD)]));
    expect(enforced).toEqual({ code: 1, out: [], err: ['Reading the password from standard input…', 'error: this account signs in with SSO: run xp login --sso'] });
    expect(await exists(credentialsFile())).toBe(false);
  });

  it('reads the password from a real process\'s piped standard input (node cloud/bin/xp.js)', async () => {
    const bin = fileURLToPath(new URL('../../../bin/xp.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'login', '--email', OWNER.email], {
      env: { PATH: process.env.PATH, XP_CONFIG_DIR: env.XP_CONFIG_DIR, XP_API_URL: served.url },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin.end(OWNER.password);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));

    expect([code, stdout]).toEqual([0, `Logged in to ${served.url} as ${OWNER.email} (role owner).\n`]);
    expect(stderr).not.toContain(OWNER.password);
    expect((await stat(credentialsFile())).mode & 0o777).toBe(0o600);
  }, 60_000);

  it('logout revokes the token (refused after) and removes the file; with the API unreachable it still removes the file and says so', async () => {
    const login = await xp(['login', '--api-url', served.url, '--email', OWNER.email], {}, Readable.from([Buffer.from(OWNER.password)]));
    expect(login.code).toBe(0);
    const { token } = await stored();
    expect((await p.request('GET', '/api/v1/me', { token })).status).toBe(200);

    const logout = await xp(['logout']);

    expect(logout).toEqual({ code: 0, err: [], out: [`Revoked the token of ${OWNER.email} at ${served.url}.`, `Removed ${credentialsFile()}.`] });
    expect((await p.request('GET', '/api/v1/me', { token })).status).toBe(401);
    expect(await exists(credentialsFile())).toBe(false);
    expect(await xp(['logout'])).toEqual({ code: 0, err: [], out: [`Not logged in (no ${credentialsFile()}).`] });
    // A stored token the API refuses (revoked elsewhere): commands say to log in again.
    await writeFile(credentialsFile(), JSON.stringify({ apiUrl: served.url, token, tokenId: 'revoked', email: OWNER.email }), { mode: 0o600 });
    const refused = await xp(['whoami']);
    expect(refused.code).toBe(1);
    expect(refused.err).toEqual([expect.stringMatching(new RegExp(`^error: .+ \\(the token xp login stored in ${credentialsFile().replaceAll('.', '\\.')}\\): run xp login again$`))]);
    await rm(credentialsFile());

    // A port nothing listens on.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => {
      closed.close(() => {
        resolve();
      });
    });
    await mkdir(path.dirname(credentialsFile()), { recursive: true, mode: 0o700 });
    await writeFile(credentialsFile(), JSON.stringify({ apiUrl: `http://127.0.0.1:${String(port)}`, token: 'xpp_unreachable', tokenId: 'tok-1', email: 'a@example.com' }), { mode: 0o600 });
    const unreachable = await xp(['logout']);
    expect(unreachable.code).toBe(1);
    expect(unreachable.err).toEqual([expect.stringMatching(new RegExp(`^warning: could not revoke the token at http://127\\.0\\.0\\.1:${String(port)} \\(ECONNREFUSED\\): it stays valid until it expires or is revoked in the console`))]);
    expect(unreachable.out).toEqual([`Removed ${credentialsFile()}.`]);
    expect(await exists(credentialsFile())).toBe(false);

    // A token the API no longer knows: said, and removed.
    await writeFile(credentialsFile(), JSON.stringify({ apiUrl: served.url, token, tokenId: 'gone', email: OWNER.email }), { mode: 0o600 });
    const invalid = await xp(['logout']);
    expect(invalid).toEqual({ code: 0, err: [`The token was no longer valid at ${served.url} (revoked or expired already).`], out: [`Removed ${credentialsFile()}.`] });
  });

  it('XP_TOKEN wins over the file; XP_API_URL naming another API is refused; an unreadable, group-readable or corrupt file is refused clearly', async () => {
    expect(await xp(['whoami'])).toEqual({ code: 1, out: [], err: [expect.stringMatching(/^error: not logged in: run xp login .*, or set XP_TOKEN to an access token/)] });
    const login = await xp(['login', '--api-url', served.url, '--email', OWNER.email], {}, Readable.from([Buffer.from(OWNER.password)]));
    expect(login.code).toBe(0);
    const session = await signedInAs(p, owner, 'analyst', 'ana-cli@example.com');
    const other = await p.request('POST', '/api/v1/me/tokens', { token: session, body: { name: 'ana in CI' } });
    expect(other.status).toBe(201);

    const withEnv = await xp(['whoami'], { XP_TOKEN: other.body.token, XP_API_URL: served.url });
    expect(withEnv).toEqual({ code: 0, err: [], out: ['ana-cli@example.com (role analyst)', `API: ${served.url}`, 'Credentials: XP_TOKEN'] });
    // The same API written another way is the same API.
    expect((await xp(['whoami'], { XP_API_URL: `${served.url}/` })).code).toBe(0);
    const elsewhere = await xp(['export', '--project', 'demo'], { XP_API_URL: 'https://xp.example.org' });
    expect(elsewhere).toEqual({
      code: 1,
      out: [],
      err: [`error: XP_API_URL (https://xp.example.org) is not the API you logged in to (${served.url}), and xp sends that login's token only there: unset XP_API_URL, run xp login --api-url https://xp.example.org, or set XP_TOKEN`],
    });

    await chmod(credentialsFile(), 0o644);
    const readable = await xp(['whoami']);
    expect(readable).toEqual({ code: 1, out: [], err: [`error: ${credentialsFile()} may be read or changed by other users of this machine (mode 644), so xp does not use it: run chmod 600 ${credentialsFile()} (or xp logout, then xp login again)`] });

    await writeFile(credentialsFile(), '{"apiUrl": "http://x", "tok');
    await chmod(credentialsFile(), 0o600);
    const corrupt = await xp(['export', '--project', 'demo']);
    expect(corrupt.code).toBe(1);
    expect(corrupt.err).toEqual([`error: ${credentialsFile()} is not credentials xp login wrote (not JSON with apiUrl, token, tokenId and email): run xp login again, which replaces it, or delete it`]);
    // logout still clears it.
    expect((await xp(['logout'])).code).toBe(0);
    expect(await exists(credentialsFile())).toBe(false);
  });

  it('refuses --sso with --email and arguments, and tells a login without --email where SSO is off to use a password', async () => {
    expect((await xp(['login', '--sso', '--email', 'a@example.com'])).code).toBe(2);
    expect(await xp(['login', 'hunter2'])).toEqual({
      code: 2,
      out: [],
      err: ['error: unexpected argument "hunter2": xp login takes no arguments (never a password or token: those are read from the terminal)\n\nRun xp --help for the usage.'],
    });
    box.sso = undefined;
    const noSso = await xp(['login', '--api-url', served.url]);
    expect(noSso).toEqual({ code: 1, out: [], err: [`error: ${served.url} has no single sign-on configured: sign in with a password, xp login --email EMAIL`] });
  });

  it('Ctrl-C ends a real process\'s wait for the browser cleanly: exit 1, nothing stored, the listener closed', async () => {
    const bin = fileURLToPath(new URL('../../../bin/xp.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'login', '--sso', '--no-browser', '--api-url', served.url], {
      env: { PATH: process.env.PATH, XP_CONFIG_DIR: env.XP_CONFIG_DIR },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const waiting = new Promise<void>((resolve) => {
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        if (stderr.includes('Ctrl-C cancels')) {
          resolve();
        }
      });
    });
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    await waiting;
    const start = /(http:\/\/\S+\/api\/v1\/auth\/sso\/start\?\S+)/.exec(stderr)![1]!;
    child.kill('SIGINT');

    expect(await closed).toBe(1);
    expect(stderr.trim().split('\n').at(-1)).toBe('error: single sign-on cancelled; nothing was stored');
    expect(await exists(credentialsFile())).toBe(false);
    // Nothing listens for the sign-in any more.
    const port = new URL(start).searchParams.get('app_port')!;
    await expect(fetch(`http://127.0.0.1:${port}/sso/callback`)).rejects.toThrow();
  }, 60_000);

  /** A login's environment that would open a browser (a display, no SSH, no XP_NO_BROWSER), whose PATH has no xdg-open. */
  const withBrowser = async (): Promise<NodeJS.ProcessEnv> => {
    const bin = path.join(configDir, 'empty-bin');
    await mkdir(bin);
    return { XP_CONFIG_DIR: env.XP_CONFIG_DIR, DISPLAY: ':0', PATH: bin };
  };

  it("opens the browser at the listener's one-shot /sso/begin, never the challenge; when it cannot, says so with the port-forward hint, and the link signs in", async () => {
    idp.accounts.set('begin-sub', { email: 'begin@example.com', email_verified: true });
    const login = await ssoLogin('begin-sub', ['--sso'], await withBrowser());

    expect(login.code).toBe(0);
    expect(login.err[1]).toMatch(/^ {2}http:\/\/127\.0\.0\.1:\d+\/sso\/begin$/);
    const port = new URL(login.err[1]!.trim()).port;
    expect(login.err.join('\n')).not.toContain('app_challenge');
    expect(login.err).toContain('Could not open a browser (xdg-open: ENOENT): open the URL above yourself.');
    expect(login.err).toContain(`The browser comes back to 127.0.0.1:${port} of this computer: from another one, forward that port first (ssh -L ${port}:127.0.0.1:${port}, or the ~C escape of a running ssh session).`);
    expect((await stored()).email).toBe('begin@example.com');
  });

  it('stops a sign-in whose /sso/begin link is opened twice (another user raced the browser), storing nothing', async () => {
    const err: string[] = [];
    let printed: (url: string) => void = () => undefined;
    const ready = new Promise<string>((resolve) => {
      printed = resolve;
    });
    const cli = main(['login', '--sso', '--api-url', served.url], await withBrowser(), () => undefined, (l) => {
      err.push(l);
      const begin = /^\s+(http:\/\/127\.0\.0\.1:\d+\/sso\/begin)$/.exec(l)?.[1];
      if (begin !== undefined) {
        printed(begin);
      }
    });
    const begin = await ready;
    // Whoever comes first gets the start URL with the challenge; the second request ends the sign-in.
    const first = await fetch(begin, { redirect: 'manual' });
    expect([first.status, new URL(first.headers.get('location')!).searchParams.get('app_port')]).toEqual([302, new URL(begin).port]);
    const second = await fetch(begin, { redirect: 'manual' });
    expect(second.status).toBe(409);

    expect(await cli).toBe(1);
    expect(err.at(-1)).toBe("error: single sign-on stopped: another program opened this sign-in's link, so it was stopped and nothing was stored: start again");
    expect(await exists(credentialsFile())).toBe(false);
    await expect(fetch(begin)).rejects.toThrow();
  });

  it('does not open a browser over SSH or on Linux without a display: prints the start URL itself and the port-forward hint', async () => {
    idp.accounts.set('ssh-sub', { email: 'ssh@example.com', email_verified: true });
    const login = await ssoLogin('ssh-sub', ['--sso'], { XP_CONFIG_DIR: env.XP_CONFIG_DIR, DISPLAY: ':0', SSH_CONNECTION: '192.0.2.1 50000 192.0.2.2 22' });

    expect(login.code).toBe(0);
    expect(login.err[1]).toMatch(/^ {2}http:\/\/\S+\/api\/v1\/auth\/sso\/start\?app_port=\d+&app_challenge=/);
    expect(login.err).toContain('Not opening a browser: this is an SSH session (as with --no-browser).');
    expect(login.err.some((l) => l.startsWith('The browser comes back to 127.0.0.1:'))).toBe(true);
    expect(login.err.some((l) => l.startsWith('Could not open a browser'))).toBe(false);
    // The start URL was printed, so the listener serves no /sso/begin: asking for it neither gets the challenge nor matters.
    expect((await stored()).email).toBe('ssh@example.com');

    expect(noBrowserReason(false, { SSH_TTY: '/dev/pts/1' }, 'darwin')).toBe('this is an SSH session');
    expect(noBrowserReason(false, {}, 'linux')).toBe('there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)');
    expect(noBrowserReason(false, { WAYLAND_DISPLAY: 'wayland-0' }, 'linux')).toBeNull();
    expect(noBrowserReason(false, {}, 'darwin')).toBeNull();
    expect(noBrowserReason(true, { DISPLAY: ':0' }, 'linux')).toBe('asked');
  });

  it('never changes the mode of an existing config folder: one others can read is refused; one not writable is said plainly', async () => {
    const dir = path.join(configDir, 'xp');
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
    const shared = await xp(['login', '--api-url', served.url, '--email', OWNER.email], {}, Readable.from([Buffer.from(OWNER.password)]));
    expect(shared.code).toBe(1);
    expect(shared.err.at(-1)).toBe(
      `error: cannot store the credentials in ${credentialsFile()}: ${dir} can be read by other users of this machine (mode 755), so xp does not keep a token there: chmod 700 ${dir}, or set XP_CONFIG_DIR to a private directory`,
    );
    expect((await stat(dir)).mode & 0o777).toBe(0o755);
    expect(await exists(credentialsFile())).toBe(false);

    // A folder this user cannot write (as root too: /sys refuses everyone).
    const notMine = await xp(['login', '--api-url', served.url, '--email', OWNER.email], { XP_CONFIG_DIR: '/sys/kernel/xp-cli-test' }, Readable.from([Buffer.from(OWNER.password)]));
    expect(notMine.code).toBe(1);
    expect(notMine.err.at(-1)).toMatch(/^error: cannot store the credentials in \/sys\/kernel\/xp-cli-test\/credentials\.json: \/sys\/kernel\/xp-cli-test is not yours or not writable \((EPERM|EACCES|EROFS)\): set XP_CONFIG_DIR to a private directory of your own$/);

    // A missing folder is made 0700.
    await rm(dir, { recursive: true });
    expect((await xp(['login', '--api-url', served.url, '--email', OWNER.email], {}, Readable.from([Buffer.from(OWNER.password)]))).code).toBe(0);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it('refuses an API URL with a query or a fragment; a bare 404 names the URL used and where it came from; a replaced login whose token cannot be revoked is warned about', async () => {
    expect(await xp(['login', '--api-url', `${served.url}/?org=1`])).toEqual({
      code: 1,
      out: [],
      err: [`error: --api-url "${served.url}/?org=1" has a query (?…), which an API address never has: drop it (for example ${served.url})`],
    });
    expect((await xp(['login', '--api-url', `${served.url}#x`])).err).toEqual([`error: --api-url "${served.url}#x" has a fragment (#…), which an API address never has: drop it (for example ${served.url})`]);

    // Another server, which answers 404 to everything.
    const other = createHttpServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<h1>Not Found</h1>');
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const otherUrl = `http://127.0.0.1:${String((other.address() as AddressInfo).port)}`;
    try {
      const wrong = await xp(['login', '--api-url', otherUrl, '--email', OWNER.email], { XP_API_URL: served.url }, Readable.from([Buffer.from(OWNER.password)]));
      expect(wrong.err.at(-1)).toBe(`error: HTTP 404 from ${otherUrl}; is --api-url the address of the xp API?`);
      const fromEnv = await xp(['login', '--email', OWNER.email], { XP_API_URL: otherUrl }, Readable.from([Buffer.from(OWNER.password)]));
      expect(fromEnv.err.at(-1)).toBe(`error: HTTP 404 from ${otherUrl}; is XP_API_URL the address of the xp API?`);

      // A stored login at that server: whoami names the stored login; a new login cannot revoke its token there, and says so.
      await mkdir(path.dirname(credentialsFile()), { recursive: true, mode: 0o700 });
      await writeFile(credentialsFile(), JSON.stringify({ apiUrl: otherUrl, token: 'xpp_elsewhere', tokenId: 'tok-old', email: 'old@example.com' }), { mode: 0o600 });
      const whoami = await xp(['whoami']);
      expect(whoami.err).toEqual([`error: HTTP 404 from ${otherUrl}; is the address xp login stored in ${credentialsFile()} still the xp API's? xp login --api-url URL replaces it`]);
      const replaced = await xp(['login', '--api-url', served.url, '--email', OWNER.email], {}, Readable.from([Buffer.from(OWNER.password)]));
      expect(replaced.code).toBe(0);
      expect(replaced.err).toContain(
        `warning: could not revoke the token of the previous login (old@example.com at ${otherUrl}: 404 HTTP 404): "${tokenName()}" may still be valid; revoke it in that console (Users & keys, your personal API keys) or with DELETE /api/v1/me/tokens/tok-old`,
      );
      expect((await stored()).apiUrl).toBe(served.url);
    } finally {
      other.closeAllConnections();
      await new Promise<void>((resolve) => other.close(() => { resolve(); }));
    }
  });

  it('shows the confirmation code that the page derives from the challenge', async () => {
    idp.accounts.set('code-sub', { email: 'code@example.com', email_verified: true });
    const login = await ssoLogin('code-sub');
    expect(login.code).toBe(0);
    const challenge = /app_challenge=([A-Za-z0-9_-]{43})/.exec(login.err[1]!)?.[1];
    expect(await ssoConfirmationCode(challenge!)).toBe(login.shown);
  });
});
