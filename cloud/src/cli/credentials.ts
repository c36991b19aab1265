/**
 * The credentials `xp login` keeps, and the credentials an API command uses. `xp login` stores a
 * personal access token with the API's URL in `credentials.json` of the CLI's configuration folder
 * (`$XP_CONFIG_DIR`, else `$XDG_CONFIG_HOME/xp`, else `~/.config/xp`): the folder 0700 (made so when
 * missing; an existing one others can open is refused, never changed), the file 0600,
 * written whole or not at all. A command uses XP_TOKEN when it is set (CI), else that file; the file's
 * token is sent only to the API it was made by: XP_API_URL naming another is refused, as a file that
 * other users of the machine can read is (as ssh refuses such a key).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { AppError } from '../errors.js';

/** Where the API is when neither --api-url, XP_API_URL nor the stored credentials say. */
export const DEFAULT_API_URL = 'http://localhost:8000';

/** The file name in the configuration folder. */
export const CREDENTIALS_FILE = 'credentials.json';

/** What `xp login` stores: the API it logged in to, the personal access token it made there (and its id, to revoke it), and who it is. */
export interface StoredCredentials {
  readonly apiUrl: string;
  readonly token: string;
  readonly tokenId: string;
  readonly email: string;
}

/** The credentials a command uses, and where they came from (`xp whoami` says). */
export interface EffectiveCredentials {
  readonly apiUrl: string;
  readonly token: string;
  /** `env`: XP_TOKEN; `file`: the stored credentials at `file`. */
  readonly source: 'env' | 'file';
  readonly file?: string;
}

/** A token as the API makes them: printable ASCII, no spaces. */
const TOKEN = /^[\x21-\x7e]{1,4096}$/;

/** The CLI's configuration folder: $XP_CONFIG_DIR, else $XDG_CONFIG_HOME/xp (an absolute one: the XDG rule), else ~/.config/xp. */
export function configDir(env: NodeJS.ProcessEnv): string {
  const own = env.XP_CONFIG_DIR?.trim();
  if (own !== undefined && own !== '') {
    return path.resolve(own);
  }
  const xdg = env.XDG_CONFIG_HOME?.trim();
  if (xdg !== undefined && xdg !== '' && path.isAbsolute(xdg)) {
    return path.join(xdg, 'xp');
  }
  return path.join(homedir(), '.config', 'xp');
}

/** The stored credentials' file. */
export function credentialsPath(env: NodeJS.ProcessEnv): string {
  return path.join(configDir(env), CREDENTIALS_FILE);
}

/**
 * An API URL as commands use it (trailing slashes dropped), or a VALIDATION_FAILED naming `name`
 * (XP_API_URL, --api-url) and what is wrong: not http(s), a user name or password in it (never
 * repeated), a query or a fragment, or a path ending in /api or /api/v1 (which the client adds).
 */
export function checkApiUrl(apiUrl: string, name: string): string {
  if (!URL.canParse(apiUrl)) {
    throw new AppError('VALIDATION_FAILED', `${name} "${apiUrl.slice(0, 200)}" is not a URL (for example ${DEFAULT_API_URL})`);
  }
  const url = new URL(apiUrl);
  if (url.username !== '' || url.password !== '') {
    // Never repeated: the password would be on screen.
    throw new AppError('VALIDATION_FAILED', `${name} must not hold a user name or password; the API authenticates with ${name === 'XP_API_URL' ? 'XP_TOKEN' : 'a token'}`);
  }
  // "localhost:8000" parses as a URL of scheme "localhost:": a configuration error, not an API that is down.
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AppError('VALIDATION_FAILED', `${name} "${apiUrl.slice(0, 200)}" needs http:// or https:// in front (for example ${DEFAULT_API_URL})`);
  }
  // The client builds paths and queries on the URL: one of its own would be dropped or garbled.
  if (apiUrl.includes('?') || apiUrl.includes('#')) {
    throw new AppError('VALIDATION_FAILED', `${name} "${apiUrl.slice(0, 200)}" has a ${apiUrl.includes('?') ? 'query (?…)' : 'fragment (#…)'}, which an API address never has: drop it (for example ${url.origin}${url.pathname.replace(/\/+$/, '')})`);
  }
  // The client adds /api/v1 itself (a path before it, a reverse proxy's prefix, is kept).
  const api = /\/api(\/v1)?\/*$/.exec(url.pathname);
  if (api !== null) {
    throw new AppError('VALIDATION_FAILED', `${name} "${apiUrl.slice(0, 200)}" ends in ${api[0].replace(/\/+$/, '')}, which xp adds itself: drop that path (for example ${url.origin}${url.pathname.slice(0, api.index)})`);
  }
  return apiUrl.replace(/\/+$/, '');
}

/** Whether two API URLs are the same API (scheme, host, port and path; trailing slashes and case of the host aside). */
export function sameApi(a: string, b: string): boolean {
  const norm = (u: string): string => {
    try {
      const url = new URL(u);
      return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    } catch {
      return u.replace(/\/+$/, '');
    }
  };
  return norm(a) === norm(b);
}

function statOrUndefined(file: string): Stats | undefined {
  try {
    return statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw new AppError('VALIDATION_FAILED', `cannot read ${file}: ${(e as Error).message}`);
  }
}

/** The file's credentials, checked: null for anything that is not what `xp login` writes. */
function parseCredentials(text: string): StoredCredentials | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) {
    return null;
  }
  const { apiUrl, token, tokenId, email } = value as Record<string, unknown>;
  if (typeof apiUrl !== 'string' || typeof token !== 'string' || typeof tokenId !== 'string' || typeof email !== 'string' || !TOKEN.test(token) || !URL.canParse(apiUrl)) {
    return null;
  }
  return { apiUrl, token, tokenId, email };
}

/**
 * The stored credentials, or undefined when there are none. Refused (an AppError naming the file):
 * a file group or others may read or write (chmod 600 it), one owned by another user, one that is
 * not what `xp login` writes (corrupt JSON, a field missing). `checkMode` false: read it anyway
 * (`xp logout`, which revokes and removes it).
 */
export function readCredentials(env: NodeJS.ProcessEnv, options: { checkMode?: boolean } = {}): StoredCredentials | undefined {
  const file = credentialsPath(env);
  const stat = statOrUndefined(file);
  if (stat === undefined) {
    return undefined;
  }
  // Windows has no such mode bits: its folder in the user's profile is private to them.
  if (options.checkMode !== false && process.platform !== 'win32') {
    if ((stat.mode & 0o077) !== 0) {
      throw new AppError(
        'VALIDATION_FAILED',
        `${file} may be read or changed by other users of this machine (mode ${(stat.mode & 0o777).toString(8).padStart(3, '0')}), so xp does not use it: run chmod 600 ${file} (or xp logout, then xp login again)`,
      );
    }
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid) {
      throw new AppError('VALIDATION_FAILED', `${file} belongs to another user, so xp does not use it: remove it and run xp login`);
    }
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new AppError('VALIDATION_FAILED', `cannot read ${file}: ${(e as Error).message}`);
  }
  const parsed = parseCredentials(text);
  if (parsed === null) {
    throw new AppError('VALIDATION_FAILED', `${file} is not credentials xp login wrote (not JSON with apiUrl, token, tokenId and email): run xp login again, which replaces it, or delete it`);
  }
  return parsed;
}

/** An error while writing in `dir` as a message naming it: not the user's, or not writable, rather than a bare EPERM. */
function writeError(dir: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EPERM' || code === 'EACCES' || code === 'EROFS') {
    return new AppError('VALIDATION_FAILED', `${dir} is not yours or not writable (${code}): set XP_CONFIG_DIR to a private directory of your own`, undefined, { cause: e });
  }
  return e instanceof Error ? e : new Error(String(e));
}

/**
 * Writes the credentials atomically: a new file (mode 0600, created exclusively) in the folder,
 * synced, then renamed over the old one. A missing folder is created 0700; an existing one that
 * group or others can get into (mode & 077) is refused, never changed (it may be shared, or a
 * symbolic link to somewhere else).
 */
export async function writeCredentials(env: NodeJS.ProcessEnv, credentials: StoredCredentials): Promise<string> {
  const dir = configDir(env);
  const file = path.join(dir, CREDENTIALS_FILE);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw writeError(dir, e);
  }
  // Windows has no such mode bits: its folder in the user's profile is private to them.
  if (process.platform !== 'win32') {
    const mode = statSync(dir).mode;
    if ((mode & 0o077) !== 0) {
      throw new AppError(
        'VALIDATION_FAILED',
        `${dir} can be read by other users of this machine (mode ${(mode & 0o777).toString(8).padStart(3, '0')}), so xp does not keep a token there: chmod 700 ${dir}, or set XP_CONFIG_DIR to a private directory`,
      );
    }
  }
  const temporary = path.join(dir, `.${CREDENTIALS_FILE}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx', 0o600).catch((e: unknown) => {
    throw writeError(dir, e);
  });
  try {
    await handle.writeFile(`${JSON.stringify({ apiUrl: credentials.apiUrl, token: credentials.token, tokenId: credentials.tokenId, email: credentials.email }, null, 2)}\n`);
    // The umask may not take bits from 0600, but one may have been set without them: say it once more.
    await handle.chmod(0o600);
    await handle.sync();
  } catch (e) {
    await handle.close();
    await rm(temporary, { force: true });
    throw e;
  }
  await handle.close();
  try {
    await rename(temporary, file);
  } catch (e) {
    await rm(temporary, { force: true });
    throw writeError(dir, e);
  }
  return file;
}

/** Removes the stored credentials; false when there were none. */
export async function removeCredentials(env: NodeJS.ProcessEnv): Promise<boolean> {
  const file = credentialsPath(env);
  if (statOrUndefined(file) === undefined) {
    return false;
  }
  await rm(file, { force: true });
  return true;
}

/** The stored credentials' API URL when they can be read, for messages (never throws). */
export function storedApiUrl(env: NodeJS.ProcessEnv): string | undefined {
  try {
    return readCredentials(env)?.apiUrl;
  } catch {
    return undefined;
  }
}

/** The API URL messages name: XP_API_URL, else the stored credentials' (when XP_TOKEN is unset), else the default. */
export function apiUrlOf(env: NodeJS.ProcessEnv): string {
  const token = env.XP_TOKEN?.trim();
  return env.XP_API_URL ?? (token === undefined || token === '' ? storedApiUrl(env) : undefined) ?? DEFAULT_API_URL;
}

/**
 * Where a command's API URL came from, for messages: `--api-url` (xp login's `apiUrlOption`), else
 * XP_API_URL, else the stored login's (xp login's, or a command's without XP_TOKEN), else
 * the default. `url` is the one used; `hint` ends a message about an answer that is not the xp
 * API's (a 404 page from another server).
 */
export function apiUrlSource(env: NodeJS.ProcessEnv, options: { apiUrlOption?: string | undefined; usesStoredLogin?: boolean } = {}): { url: string; from: string; hint: string } {
  if (options.apiUrlOption !== undefined) {
    return { url: options.apiUrlOption, from: '--api-url', hint: 'is --api-url the address of the xp API?' };
  }
  if (env.XP_API_URL !== undefined) {
    return { url: env.XP_API_URL, from: 'XP_API_URL', hint: 'is XP_API_URL the address of the xp API?' };
  }
  const token = env.XP_TOKEN?.trim();
  const stored = options.usesStoredLogin === true || token === undefined || token === '' ? storedApiUrl(env) : undefined;
  if (stored !== undefined) {
    return { url: stored, from: 'the stored login', hint: `is the address xp login stored in ${credentialsPath(env)} still the xp API's? xp login --api-url URL replaces it` };
  }
  return { url: DEFAULT_API_URL, from: 'the default', hint: 'neither --api-url, XP_API_URL nor a stored login named the API, so xp tried the default: set XP_API_URL to the address of the xp API' };
}

/** What a command says without credentials. */
export const NO_CREDENTIALS =
  "not logged in: run xp login (it keeps a personal access token for this computer), or set XP_TOKEN to an access token: a service account's for CI and other automation (POST /api/v1/service-accounts/{id}/tokens), or your personal one (POST /api/v1/me/tokens)";

/**
 * The credentials an API command uses: XP_TOKEN (with XP_API_URL, else the default) when set, else
 * the stored ones, at their API. XP_API_URL naming another API than the stored credentials' is
 * refused rather than sending the token there.
 */
export function effectiveCredentials(env: NodeJS.ProcessEnv): EffectiveCredentials {
  // A trailing newline (a token read from a file) is forgiven; anything else is not echoed back.
  const token = env.XP_TOKEN?.trim();
  if (token !== undefined && token !== '') {
    if (!/^[\x21-\x7e]+$/.test(token)) {
      throw new AppError('UNAUTHENTICATED', 'XP_TOKEN is not one token: it contains spaces, line breaks or other characters a token never has');
    }
    const apiUrl = env.XP_API_URL ?? DEFAULT_API_URL;
    checkApiUrl(apiUrl, 'XP_API_URL');
    return { apiUrl, token, source: 'env' };
  }
  const stored = readCredentials(env);
  const file = credentialsPath(env);
  if (stored === undefined) {
    if (env.XP_API_URL !== undefined) {
      checkApiUrl(env.XP_API_URL, 'XP_API_URL');
    }
    throw new AppError('UNAUTHENTICATED', NO_CREDENTIALS);
  }
  if (env.XP_API_URL !== undefined && !sameApi(checkApiUrl(env.XP_API_URL, 'XP_API_URL'), stored.apiUrl)) {
    throw new AppError(
      'UNAUTHENTICATED',
      `XP_API_URL (${env.XP_API_URL.slice(0, 200)}) is not the API you logged in to (${stored.apiUrl}), and xp sends that login's token only there: unset XP_API_URL, run xp login --api-url ${env.XP_API_URL.slice(0, 200)}, or set XP_TOKEN`,
    );
  }
  return { apiUrl: stored.apiUrl, token: stored.token, source: 'file', file };
}
