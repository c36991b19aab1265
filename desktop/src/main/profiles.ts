import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConnectionProfile, ProfileView } from '../ipc-contract.js';

/** The part of Electron's `safeStorage` the store uses (the OS keychain encrypts the tokens). */
export interface TokenCipher {
  isEncryptionAvailable(): boolean;
  encryptString(plain: string): Buffer;
  decryptString(encrypted: Buffer): string;
  /**
   * Linux only: the secret store in use. "basic_text" means no secret store was found and Electron
   * encrypts with a fixed password, which protects nothing: the store treats it as unavailable.
   */
  getSelectedStorageBackend?(): string;
}

/** Whether the cipher really protects a token (an OS keychain or secret store is behind it). */
export function encryptionProtects(cipher: TokenCipher): boolean {
  return cipher.isEncryptionAvailable() && cipher.getSelectedStorageBackend?.() !== 'basic_text';
}

/** Raised for a profile the caller named wrongly; the message is safe to show. */
export class ProfileError extends Error {
  constructor(
    readonly code: 'INVALID_PROFILE' | 'NOT_FOUND' | 'ENCRYPTION_UNAVAILABLE' | 'SIGNED_IN',
    message: string,
  ) {
    super(message);
    this.name = 'ProfileError';
  }
}

interface StoredProfile extends ConnectionProfile {
  /** safeStorage ciphertext, base64; never the plain token. */
  readonly encryptedToken?: string;
}

interface ProfileFile {
  readonly version: 1;
  readonly active: string;
  readonly profiles: StoredProfile[];
}

export const DEFAULT_PROFILES: readonly ConnectionProfile[] = [{ id: 'local', name: 'Local', apiUrl: 'http://localhost:8000' }];

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Checks a profile from the renderer: a short id and name, an http(s) URL without credentials. */
export function validateProfile(input: unknown): ConnectionProfile {
  if (typeof input !== 'object' || input === null) {
    throw new ProfileError('INVALID_PROFILE', 'a profile is an object with id, name and apiUrl');
  }
  const { id, name, apiUrl } = input as Record<string, unknown>;
  if (typeof id !== 'string' || !ID.test(id)) {
    throw new ProfileError('INVALID_PROFILE', 'id must be 1-64 letters, digits, "_" or "-"');
  }
  if (typeof name !== 'string' || name.trim() === '' || name.length > 100) {
    throw new ProfileError('INVALID_PROFILE', 'name must be 1-100 characters');
  }
  let url: URL;
  try {
    url = new URL(typeof apiUrl === 'string' ? apiUrl : '');
  } catch {
    throw new ProfileError('INVALID_PROFILE', 'apiUrl must be an absolute http(s) URL');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') {
    throw new ProfileError('INVALID_PROFILE', 'apiUrl must be http(s) without credentials in it');
  }
  return { id, name: name.trim(), apiUrl: url.origin + url.pathname.replace(/\/+$/, '') };
}

/** The active profile and its session token: where the app protocol sends /api requests, and with what. */
export interface ActiveSession {
  readonly profile: ConnectionProfile;
  readonly token: string | null;
}

/**
 * Connection profiles in a JSON file under the app's userData folder (mode 0600). Tokens are
 * encrypted with the OS keychain through `safeStorage`; without encryption a token is kept in this
 * process's memory only. Tokens never leave the main process: the app protocol reads them through
 * `activeSession`, the renderer learns only `hasToken`. While the active profile is signed in,
 * profiles cannot be added, changed, removed or switched, so a script in the page cannot point the
 * session at another server.
 */
export class ProfileStore {
  private readonly file: string;
  /** Changes run one at a time: each loads, changes and saves the file (two at once lost one). */
  private queue: Promise<unknown> = Promise.resolve();
  /** Decrypted tokens by profile id, and the only copy of those the keychain could not store. */
  private readonly tokens = new Map<string, string>();
  /** Set when a damaged profiles file was set aside: where it went, for the user to be told. */
  damagedFileKeptAt: string | undefined;

  constructor(
    dir: string,
    private readonly cipher: TokenCipher,
    private readonly newId: () => string = randomUUID,
  ) {
    this.file = path.join(dir, 'profiles.json');
  }

  private async load(): Promise<ProfileFile> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      return { version: 1, active: DEFAULT_PROFILES[0]!.id, profiles: [...DEFAULT_PROFILES] };
    }
    try {
      const parsed = JSON.parse(text) as Partial<ProfileFile>;
      const profiles = (Array.isArray(parsed.profiles) ? parsed.profiles : []).flatMap((p: unknown) => {
        try {
          const valid = validateProfile(p);
          const token = (p as StoredProfile).encryptedToken;
          return [typeof token === 'string' ? { ...valid, encryptedToken: token } : valid];
        } catch {
          return [];
        }
      });
      const list = profiles.length > 0 ? profiles : [...DEFAULT_PROFILES];
      const active = typeof parsed.active === 'string' && list.some((p) => p.id === parsed.active) ? parsed.active : list[0]!.id;
      return { version: 1, active, profiles: list };
    } catch {
      // A damaged file starts over rather than locking the user out of the app, but is kept aside
      // (a hand edit's stray comma must not cost the other profiles): the next save would replace it.
      const kept = `${this.file}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      try {
        await rename(this.file, kept);
        this.damagedFileKeptAt = kept;
      } catch {
        // Already moved by a concurrent read: one copy is enough.
      }
      return { version: 1, active: DEFAULT_PROFILES[0]!.id, profiles: [...DEFAULT_PROFILES] };
    }
  }

  /** Runs a change after the ones before it. */
  private serial<T>(change: () => Promise<T>): Promise<T> {
    const run = this.queue.then(change, change);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async save(data: ProfileFile): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${this.newId()}.tmp`;
    await writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.file);
  }

  private view(data: ProfileFile): ProfileView[] {
    return data.profiles.map((p) => ({ id: p.id, name: p.name, apiUrl: p.apiUrl, hasToken: this.signedIn(p), active: p.id === data.active }));
  }

  private signedIn(p: StoredProfile): boolean {
    return p.encryptedToken !== undefined || this.tokens.has(p.id);
  }

  /** Profile changes wait for sign-out: the page must not move a live session to another server. */
  private assertSignedOut(data: ProfileFile): void {
    const active = data.profiles.find((p) => p.id === data.active);
    if (active !== undefined && this.signedIn(active)) {
      throw new ProfileError('SIGNED_IN', 'sign out before changing connections');
    }
  }

  async list(): Promise<ProfileView[]> {
    return this.view(await this.load());
  }

  /** Whether the active profile has a session (stored, or in memory when the keychain is unavailable). */
  async hasToken(): Promise<boolean> {
    const data = await this.load();
    const p = data.profiles.find((x) => x.id === data.active);
    return p !== undefined && this.signedIn(p);
  }

  async active(): Promise<ConnectionProfile> {
    const data = await this.load();
    const p = data.profiles.find((x) => x.id === data.active) ?? data.profiles[0]!;
    return { id: p.id, name: p.name, apiUrl: p.apiUrl };
  }

  /** Adds or updates a profile; changing its URL forgets its token (it belonged to another server). */
  upsert(input: unknown): Promise<ProfileView[]> {
    return this.serial(async () => {
      const profile = validateProfile(input);
      const data = await this.load();
      this.assertSignedOut(data);
      const existing = data.profiles.find((p) => p.id === profile.id);
      const kept = existing?.apiUrl === profile.apiUrl && existing.encryptedToken !== undefined ? { ...profile, encryptedToken: existing.encryptedToken } : profile;
      const profiles = existing === undefined ? [...data.profiles, kept] : data.profiles.map((p) => (p.id === profile.id ? kept : p));
      const next: ProfileFile = { ...data, profiles };
      await this.save(next);
      return this.view(next);
    });
  }

  remove(id: unknown): Promise<ProfileView[]> {
    return this.serial(async () => {
      const data = await this.load();
      this.assertSignedOut(data);
      if (!data.profiles.some((p) => p.id === id)) {
        throw new ProfileError('NOT_FOUND', 'no such profile');
      }
      const profiles = data.profiles.filter((p) => p.id !== id);
      const list = profiles.length > 0 ? profiles : [...DEFAULT_PROFILES];
      const next: ProfileFile = { version: 1, active: list.some((p) => p.id === data.active) ? data.active : list[0]!.id, profiles: list };
      await this.save(next);
      return this.view(next);
    });
  }

  select(id: unknown): Promise<ProfileView[]> {
    return this.serial(async () => {
      const data = await this.load();
      if (typeof id !== 'string' || !data.profiles.some((p) => p.id === id)) {
        throw new ProfileError('NOT_FOUND', 'no such profile');
      }
      if (id === data.active) {
        return this.view(data);
      }
      this.assertSignedOut(data);
      const next: ProfileFile = { ...data, active: id };
      await this.save(next);
      return this.view(next);
    });
  }

  /**
   * Stores the active profile's token encrypted, or clears it with null. Without a keychain the token
   * is kept in memory (the proxy still uses it) and the call fails with ENCRYPTION_UNAVAILABLE.
   */
  setToken(token: unknown): Promise<boolean> {
    return this.serial(async () => {
      if (token !== null && (typeof token !== 'string' || token === '' || token.length > 4096)) {
        throw new ProfileError('INVALID_PROFILE', 'a token is a non-empty string');
      }
      const data = await this.load();
      let encrypted: string | undefined;
      if (token === null) {
        this.tokens.delete(data.active);
      } else {
        this.tokens.set(data.active, token);
        if (!encryptionProtects(this.cipher)) {
          throw new ProfileError('ENCRYPTION_UNAVAILABLE', 'the system keychain is not available, so the session is kept in memory only');
        }
        encrypted = this.cipher.encryptString(token).toString('base64');
      }
      const profiles = data.profiles.map((p): StoredProfile => {
        if (p.id !== data.active) {
          return p;
        }
        const rest = ProfileStore.withoutToken(p);
        return encrypted === undefined ? rest : { ...rest, encryptedToken: encrypted };
      });
      await this.save({ ...data, profiles });
      return encrypted !== undefined;
    });
  }

  private static withoutToken(p: StoredProfile): StoredProfile {
    const { encryptedToken: _old, ...rest } = p;
    return rest;
  }

  /**
   * The active profile and its token (null when it has none or it cannot be decrypted), read
   * together so a request never carries one profile's token to another's server. Main process only.
   */
  async activeSession(): Promise<ActiveSession> {
    const data = await this.load();
    const p = data.profiles.find((x) => x.id === data.active) ?? data.profiles[0]!;
    return { profile: { id: p.id, name: p.name, apiUrl: p.apiUrl }, token: this.tokenOf(p) };
  }

  private tokenOf(p: StoredProfile): string | null {
    const kept = this.tokens.get(p.id);
    if (kept !== undefined) {
      return kept;
    }
    if (p.encryptedToken === undefined || !encryptionProtects(this.cipher)) {
      return null;
    }
    try {
      const token = this.cipher.decryptString(Buffer.from(p.encryptedToken, 'base64'));
      this.tokens.set(p.id, token);
      return token;
    } catch {
      return null;
    }
  }
}
