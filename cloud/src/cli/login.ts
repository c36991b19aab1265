/**
 * `xp login`, `xp logout`, `xp whoami`: a person's credentials for the CLI without curl. `xp login`
 * signs in (single sign-on in the system browser, as the desktop app does it: RFC 8252 with a
 * loopback listener on 127.0.0.1, from `@xp/shared/node`; or a password read from the terminal
 * without echo, or from standard input), makes a personal access token named "xp CLI on <host>",
 * ends the sign-in's session and stores the token (credentials.ts). `xp logout` revokes it and
 * removes the file; `xp whoami` says who the effective credentials are.
 */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { ApiError, PASSWORD_CHANGE_REQUIRED, SSO_REQUIRED, XpApiClient } from '@xp/shared';
import type { Me, SsoErrorReason, User } from '@xp/shared';
import { SSO_WAIT_MS, SsoSignInError, startLoopbackSignIn } from '@xp/shared/node';
import { AppError } from '../errors.js';
import { readStdinBytes } from './stdin.js';
import { DEFAULT_API_URL, checkApiUrl, credentialsPath, effectiveCredentials, readCredentials, removeCredentials, storedApiUrl, writeCredentials } from './credentials.js';

type Print = (line: string) => void;

export const LOGIN_HELP = `  xp login [--api-url URL] [--sso | --email EMAIL] [--no-browser]
      Sign in and keep a personal access token ("xp CLI on <host>") for the commands below, in
      credentials.json of $XP_CONFIG_DIR, else $XDG_CONFIG_HOME/xp, else ~/.config/xp (mode 0600).
      --sso (the default when the API offers single sign-on and no --email is given) opens the
      system browser and prints the URL and a confirmation code to check on the xp page; the
      browser comes back to a one-shot listener on this computer's 127.0.0.1 (from another
      computer, forward the printed port: ssh -L PORT:127.0.0.1:PORT). --no-browser or
      XP_NO_BROWSER=1 only prints: the default over SSH (SSH_CONNECTION or SSH_TTY set) and on
      Linux without a display (neither DISPLAY nor WAYLAND_DISPLAY); use it on a shared machine.
      --email signs in with a password, read from the terminal without echo, or from standard
      input when it is not a terminal. The API: --api-url, else XP_API_URL, else the stored
      login's, else ${DEFAULT_API_URL}.
  xp logout
      Revoke the stored token and remove the file (removed even when the API cannot be reached).
  xp whoami
      Who the credentials are (email, role), the API, and whether they come from XP_TOKEN or xp login.`;

/** What the login commands need from the process: its output and standard input. */
export interface LoginIo {
  readonly print: Print;
  readonly printError: Print;
  readonly stdin: NodeJS.ReadableStream;
}

/** Why an SSO sign-in came back without a session, as the CLI says it. */
const SSO_REASONS: Record<SsoErrorReason, string> = {
  denied: 'it was cancelled, or your identity provider refused it',
  expired: 'it expired or was already used: run xp login again',
  'email-unverified': 'your identity provider did not confirm that your email address is verified',
  'domain-not-allowed': 'your email address is not in a domain allowed to sign in to xp',
  'account-disabled': 'your xp account is disabled',
  'idp-unavailable': 'xp could not reach your identity provider',
  'invalid-response': "your identity provider's answer failed xp's security checks",
  busy: 'too many single sign-ins are under way right now: try again in a minute',
};

/** The name of the token `xp login` makes (the API takes up to 100 characters). */
export function tokenName(host: string = hostname()): string {
  const clean = host.replace(/[^\x21-\x7e]/g, '').slice(0, 80);
  return `xp CLI on ${clean === '' ? 'this computer' : clean}`;
}

/**
 * Why `xp login` does not open a browser by itself here, or null when it does: --no-browser or
 * XP_NO_BROWSER, an SSH session (the browser would be the remote machine's, if any), or Linux
 * without a display.
 */
export function noBrowserReason(noBrowser: boolean, env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string | null {
  const set = (name: string): boolean => (env[name] ?? '') !== '';
  if (noBrowser || env.XP_NO_BROWSER === '1' || env.XP_NO_BROWSER === 'true') {
    return 'asked';
  }
  if (set('SSH_CONNECTION') || set('SSH_TTY')) {
    return 'this is an SSH session';
  }
  if (platform === 'linux' && !set('DISPLAY') && !set('WAYLAND_DISPLAY')) {
    return 'there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)';
  }
  return null;
}

/**
 * Opens `url` in the system browser without waiting for it; says so, and calls `failed`, when it
 * could not (the command missing, or exiting with an error). The command is looked up in `env`'s PATH.
 */
export function openSystemBrowser(url: string, printError: Print, failed: () => void = () => undefined, env: NodeJS.ProcessEnv = process.env): void {
  const [command, args, options]: [string, string[], { windowsVerbatimArguments?: boolean }] =
    process.platform === 'darwin'
      ? ['open', [url], {}]
      : process.platform === 'win32'
        ? // cmd reads & as a command separator: escaped, as the URL's query has them.
          ['cmd', ['/c', 'start', '""', url.replace(/[&^]/g, '^$&')], { windowsVerbatimArguments: true }]
        : ['xdg-open', [url], {}];
  let said = false;
  const couldNot = (why: string): void => {
    if (!said) {
      said = true;
      printError(`Could not open a browser (${command}: ${why}): open the URL above yourself.`);
      failed();
    }
  };
  try {
    const child = spawn(command, args, { stdio: 'ignore', detached: true, env, ...options });
    child.on('error', (e: NodeJS.ErrnoException) => {
      couldNot(e.code ?? e.message);
    });
    // xdg-open without a browser to run exits with 3 or 4 (open, start: 1).
    child.on('exit', (code) => {
      if (code !== null && code !== 0) {
        couldNot(`exit code ${String(code)}`);
      }
    });
    child.unref();
  } catch (e) {
    couldNot((e as Error).message);
  }
}

/** Why a request failed, briefly: the API's status and message, or the network's code (ECONNREFUSED…). */
function failure(e: unknown): string {
  return e instanceof ApiError ? `${String(e.status)} ${e.message}` : e instanceof Error && e.cause instanceof Error ? ((e.cause as NodeJS.ErrnoException).code ?? e.cause.message) : e instanceof Error ? e.message : String(e);
}

/** A fetch failure (the API down, a wrong host) as a message naming the API. */
async function reaching<T>(apiUrl: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof TypeError && e.message === 'fetch failed') {
      const cause = e.cause instanceof Error ? ((e.cause as NodeJS.ErrnoException).code ?? e.cause.message) : undefined;
      throw new AppError('VALIDATION_FAILED', `cannot reach the API at ${apiUrl}${cause === undefined ? '' : ` (${cause})`}; is it running? --api-url or XP_API_URL sets its address`, undefined, { cause: e });
    }
    throw e;
  }
}

/** The most standard input a password is read from (64 KiB). */
const MAX_PASSWORD_INPUT = 64 * 1024;

/** Standard input as a terminal may be: a tty.ReadStream has both. */
interface MaybeTerminal extends NodeJS.ReadableStream {
  readonly isTTY?: boolean;
  readonly setRawMode?: (raw: boolean) => unknown;
}

/** Reads a password: from the terminal without echo (a prompt on stderr), else all of standard input (one trailing line break dropped). */
async function readPassword(stdin: NodeJS.ReadableStream, printError: Print, prompt: string): Promise<string> {
  const tty: MaybeTerminal = stdin;
  const setRawMode = tty.setRawMode?.bind(tty);
  if (tty.isTTY === true && setRawMode !== undefined) {
    process.stderr.write(prompt);
    return new Promise<string>((resolve, reject) => {
      let password = '';
      setRawMode(true);
      tty.setEncoding('utf8');
      tty.resume();
      const done = (error?: Error): void => {
        setRawMode(false);
        tty.pause();
        tty.off('data', onData);
        process.stderr.write('\n');
        if (error === undefined) {
          resolve(password);
        } else {
          reject(error);
        }
      };
      const onData = (chunk: string): void => {
        for (const ch of chunk) {
          if (ch === '\r' || ch === '\n') {
            done();
            return;
          }
          if (ch === '\u0003') {
            done(new AppError('VALIDATION_FAILED', 'login cancelled; nothing was stored'));
            return;
          }
          if (ch === '\u0004') {
            done();
            return;
          }
          if (ch === '\u007f' || ch === '\b') {
            password = Array.from(password).slice(0, -1).join('');
          } else if (ch >= ' ') {
            password += ch;
          }
        }
      };
      tty.on('data', onData);
    });
  }
  printError('Reading the password from standard input…');
  const bytes = await readStdinBytes(stdin, MAX_PASSWORD_INPUT);
  if (bytes.length > MAX_PASSWORD_INPUT) {
    throw new AppError('VALIDATION_FAILED', 'standard input is too long for a password');
  }
  return bytes.toString('utf8').replace(/\r?\n$/, '');
}

/** An API client at `apiUrl` (with `token`), as the CLI's are. */
const api = (apiUrl: string, token?: string, fetchFn?: typeof fetch): XpApiClient => new XpApiClient({ apiUrl, ...(token === undefined ? {} : { token }), client: 'cli', ...(fetchFn === undefined ? {} : { fetch: fetchFn }) });

/** fetch that gives up after `ms` (logout must not hang on an API that does not answer). */
const fetchWithin =
  (ms: number): typeof fetch =>
  (input, init) =>
    fetch(input, { ...init, signal: AbortSignal.timeout(ms) });

/** The session of a password sign-in. */
async function passwordSession(apiUrl: string, email: string, io: LoginIo): Promise<{ token: string; user: User }> {
  const password = await readPassword(io.stdin, io.printError, `Password for ${email} at ${apiUrl}: `);
  if (password === '') {
    throw new AppError('VALIDATION_FAILED', 'no password given');
  }
  try {
    return await reaching(apiUrl, () => api(apiUrl).login(email, password));
  } catch (e) {
    if (e instanceof ApiError && e.code === SSO_REQUIRED) {
      throw new AppError('FORBIDDEN', 'this account signs in with SSO: run xp login --sso', undefined, { cause: e });
    }
    if (e instanceof ApiError && e.code === PASSWORD_CHANGE_REQUIRED) {
      throw new AppError('FORBIDDEN', 'an administrator set this password, and it must be replaced: sign in to the console once to choose your own, then run xp login again', undefined, { cause: e });
    }
    throw e;
  }
}

/** The session of an SSO sign-in in the system browser (RFC 8252, as the desktop app's). */
async function ssoSession(apiUrl: string, idpName: string | null, noBrowser: string | null, env: NodeJS.ProcessEnv, io: LoginIo): Promise<{ token: string; user: User }> {
  // With a browser: the listener's one-shot /sso/begin, as the browser's command line shows it to
  // every user of the machine (ps); a second request for it stops the sign-in. Without: the API's
  // start URL itself (port and challenge), printed on this terminal only, and /sso/begin unserved.
  let openUrl = '';
  const signIn = startLoopbackSignIn({
    apiUrl,
    begin: noBrowser === null,
    openExternal: (url) => {
      openUrl = url;
    },
  });
  let started: { confirmationCode: string };
  try {
    started = await signIn.started;
  } catch (e) {
    throw e instanceof SsoSignInError ? new AppError('VALIDATION_FAILED', `single sign-on could not start: ${e.message}`) : e;
  }
  io.printError(`To sign in${idpName === null ? '' : ` with ${idpName}`}, open this page in a browser on this computer:`);
  io.printError(`  ${openUrl}`);
  io.printError(`Continue on the xp page only if it shows the code ${started.confirmationCode}.`);
  const port = new URL(openUrl).searchParams.get('app_port') ?? new URL(openUrl).port;
  const forwardHint = (): void => {
    io.printError(`The browser comes back to 127.0.0.1:${port} of this computer: from another one, forward that port first (ssh -L ${port}:127.0.0.1:${port}, or the ~C escape of a running ssh session).`);
  };
  if (noBrowser === null) {
    openSystemBrowser(openUrl, io.printError, forwardHint, env);
  } else {
    if (noBrowser !== 'asked') {
      io.printError(`Not opening a browser: ${noBrowser} (as with --no-browser).`);
    }
    forwardHint();
  }
  const cancel = (): void => {
    signIn.cancel();
  };
  // Listening before saying so: a Ctrl-C right after the line cancels instead of killing the process.
  process.once('SIGINT', cancel);
  io.printError(`Waiting for the browser (up to ${String(SSO_WAIT_MS / 60_000)} minutes; Ctrl-C cancels)…`);
  let outcome: Awaited<typeof signIn.outcome>;
  try {
    outcome = await signIn.outcome;
  } catch (e) {
    // The sign-in's link was opened twice (another program raced the browser): nothing is trusted.
    throw e instanceof SsoSignInError ? new AppError('VALIDATION_FAILED', `single sign-on stopped: ${e.message}`) : e;
  } finally {
    process.off('SIGINT', cancel);
  }
  switch (outcome.status) {
    case 'code':
      return reaching(apiUrl, () => api(apiUrl).ssoExchange(outcome.code, outcome.verifier));
    case 'error':
      throw new AppError('UNAUTHENTICATED', `single sign-on failed (${outcome.reason}): ${SSO_REASONS[outcome.reason]}; nothing was stored`);
    case 'cancelled':
      throw new AppError('VALIDATION_FAILED', 'single sign-on cancelled; nothing was stored');
    case 'timeout':
      throw new AppError('VALIDATION_FAILED', `the browser did not come back within ${String(SSO_WAIT_MS / 60_000)} minutes; nothing was stored: run xp login again`);
  }
}

/** `xp login`. */
export async function runLogin(args: readonly string[], env: NodeJS.ProcessEnv, io: LoginIo, usage: (message: string) => Error): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: { 'api-url': { type: 'string' }, sso: { type: 'boolean', default: false }, email: { type: 'string' }, 'no-browser': { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 0) {
    throw usage(`unexpected argument "${positionals[0]!.slice(0, 100)}": xp login takes no arguments (never a password or token: those are read from the terminal)`);
  }
  if (values.sso && values.email !== undefined) {
    throw usage('--sso and --email are two ways to sign in: choose one');
  }
  if (values.email?.trim() === '') {
    throw usage('--email needs the email address you sign in with');
  }
  const apiUrl = checkApiUrl(values['api-url'] ?? env.XP_API_URL ?? storedApiUrl(env) ?? DEFAULT_API_URL, values['api-url'] !== undefined ? '--api-url' : env.XP_API_URL !== undefined ? 'XP_API_URL' : 'the API URL');
  const noBrowser = noBrowserReason(values['no-browser'], env);

  let session: { token: string; user: User };
  if (values.email !== undefined) {
    session = await passwordSession(apiUrl, values.email.trim(), io);
  } else {
    const info = await reaching(apiUrl, () => api(apiUrl).ssoInfo());
    if (!info.enabled) {
      throw new AppError('VALIDATION_FAILED', `${apiUrl} has no single sign-on configured: sign in with a password, xp login --email EMAIL`);
    }
    session = await ssoSession(apiUrl, info.name, noBrowser, env, io);
  }

  // The session made only this token: it ends whatever happens next.
  const signedIn = api(apiUrl, session.token);
  let made: Awaited<ReturnType<XpApiClient['createAccessToken']>>;
  let me: Me;
  try {
    made = await reaching(apiUrl, () => signedIn.createAccessToken({ name: tokenName() }));
    me = await reaching(apiUrl, () => api(apiUrl, made.token).me());
  } finally {
    await signedIn.logout().catch(() => undefined);
  }
  const previous = (() => {
    try {
      return readCredentials(env, { checkMode: false });
    } catch {
      return undefined;
    }
  })();
  let file: string;
  try {
    file = await writeCredentials(env, { apiUrl, token: made.token, tokenId: made.accessToken.id, email: me.email });
  } catch (e) {
    // Not kept: not left valid either.
    await api(apiUrl, made.token).revokeAccessToken(made.accessToken.id).catch(() => undefined);
    throw new AppError('VALIDATION_FAILED', `cannot store the credentials in ${credentialsPath(env)}: ${(e as Error).message}`, undefined, { cause: e });
  }
  // The login this one replaces: its token is no longer kept anywhere, so it is revoked (where it can be).
  if (previous !== undefined && previous.tokenId !== made.accessToken.id) {
    try {
      await api(previous.apiUrl, previous.token, fetchWithin(5_000)).revokeAccessToken(previous.tokenId);
    } catch (e) {
      // Already revoked or expired (401) or gone: nothing left valid. Anything else: it may still work.
      if (!(e instanceof ApiError && e.status === 401)) {
        io.printError(
          `warning: could not revoke the token of the previous login (${previous.email} at ${previous.apiUrl}: ${failure(e)}): "${tokenName()}" may still be valid; revoke it in that console (Users & keys, your personal API keys) or with DELETE /api/v1/me/tokens/${previous.tokenId}`,
        );
      }
    }
  }
  io.print(`Logged in to ${apiUrl} as ${me.email} (role ${me.access?.role ?? me.role}).`);
  io.printError(`Token "${made.accessToken.name}" stored in ${file}; xp logout revokes it.`);
  if (env.XP_TOKEN !== undefined && env.XP_TOKEN.trim() !== '') {
    io.printError('Note: XP_TOKEN is set in this shell, and commands use it rather than this login: unset XP_TOKEN to use the login.');
  }
  return 0;
}

/** `xp logout`: revokes the stored token (where the API can be reached) and removes the file. */
export async function runLogout(args: readonly string[], env: NodeJS.ProcessEnv, io: LoginIo, usage: (message: string) => Error): Promise<number> {
  if (args.length > 0) {
    throw usage(`unexpected argument "${args[0]!.slice(0, 100)}": xp logout takes none`);
  }
  const file = credentialsPath(env);
  let stored;
  let unreadable: string | undefined;
  try {
    stored = readCredentials(env, { checkMode: false });
  } catch (e) {
    unreadable = (e as Error).message;
  }
  if (stored === undefined && unreadable === undefined) {
    io.print(`Not logged in (no ${file}).`);
    return 0;
  }
  let code = 0;
  if (stored === undefined) {
    io.printError(`warning: ${unreadable!}; removing it without revoking a token`);
  } else {
    try {
      await api(stored.apiUrl, stored.token, fetchWithin(10_000)).revokeAccessToken(stored.tokenId);
      io.print(`Revoked the token of ${stored.email} at ${stored.apiUrl}.`);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 404)) {
        io.printError(`The token was no longer valid at ${stored.apiUrl} (revoked or expired already).`);
      } else {
        io.printError(`warning: could not revoke the token at ${stored.apiUrl} (${failure(e)}): it stays valid until it expires or is revoked in the console (Users & keys, your personal API keys: "${tokenName()}")`);
        code = 1;
      }
    }
  }
  await removeCredentials(env);
  io.print(`Removed ${file}.`);
  if (env.XP_TOKEN !== undefined && env.XP_TOKEN.trim() !== '') {
    io.printError('Note: XP_TOKEN is still set in this shell; commands keep using it.');
  }
  return code;
}

/** `xp whoami`: who the effective credentials are, at which API, from where. */
export async function runWhoami(args: readonly string[], env: NodeJS.ProcessEnv, io: LoginIo, usage: (message: string) => Error): Promise<number> {
  if (args.length > 0) {
    throw usage(`unexpected argument "${args[0]!.slice(0, 100)}": xp whoami takes none`);
  }
  const credentials = effectiveCredentials(env);
  const me = await reaching(credentials.apiUrl, () => api(credentials.apiUrl, credentials.token).me());
  io.print(`${me.email} (role ${me.access?.role ?? me.role}${me.access === undefined || me.access.projects === null ? '' : `; projects ${me.access.projects.join(', ')}`})`);
  io.print(`API: ${credentials.apiUrl}`);
  io.print(`Credentials: ${credentials.source === 'env' ? 'XP_TOKEN' : `${credentials.file!} (xp login)`}`);
  return 0;
}
