import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProfileError, ProfileStore, validateProfile } from '../profiles.js';
import type { TokenCipher } from '../profiles.js';

/**
 * safeStorage stand-in (Electron and an OS keychain cannot run here): a reversible transform that
 * never leaves the plain text in the ciphertext, so the test can tell stored text was encrypted.
 */
function fakeCipher(available = true): TokenCipher & { available: boolean } {
  return {
    available,
    isEncryptionAvailable() {
      return this.available;
    },
    encryptString: (plain) => Buffer.from(`enc:${Buffer.from(plain).reverse().toString('hex')}`),
    decryptString: (buf) => {
      const text = buf.toString();
      if (!text.startsWith('enc:')) {
        throw new Error('bad ciphertext');
      }
      return Buffer.from(text.slice(4), 'hex').reverse().toString();
    },
  };
}

describe('profile store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'xp-profiles-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('starts with the local profile active', async () => {
    const store = new ProfileStore(dir, fakeCipher());

    expect(await store.list()).toEqual([{ id: 'local', name: 'Local', apiUrl: 'http://localhost:8000', hasToken: false, active: true }]);
  });

  it('stores the token encrypted in a 0600 file and reads it back', async () => {
    const store = new ProfileStore(dir, fakeCipher());
    await store.upsert({ id: 'staging', name: 'Staging', apiUrl: 'https://xp.staging.example.com/' });
    await store.select('staging');

    await store.setToken('xps_secret-session');
    const file = path.join(dir, 'profiles.json');
    const text = await readFile(file, 'utf8');

    expect(text).not.toContain('xps_secret-session');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await store.activeSession()).token).toBe('xps_secret-session');
    expect((await new ProfileStore(dir, fakeCipher()).activeSession()).token).toBe('xps_secret-session');
    expect((await store.list()).find((p) => p.id === 'staging')).toMatchObject({ hasToken: true, active: true, apiUrl: 'https://xp.staging.example.com' });
    expect(await store.active()).toEqual({ id: 'staging', name: 'Staging', apiUrl: 'https://xp.staging.example.com' });
  });

  it('keeps the token in memory only, and says so, when the keychain is unavailable', async () => {
    const store = new ProfileStore(dir, fakeCipher(false));

    await expect(store.setToken('t')).rejects.toMatchObject({ code: 'ENCRYPTION_UNAVAILABLE' });

    expect((await store.activeSession()).token).toBe('t');
    expect(await store.hasToken()).toBe(true);
    expect(await readFile(path.join(dir, 'profiles.json'), 'utf8').catch(() => 'no file')).not.toContain('encryptedToken');
    // The next start of the app has no session.
    expect((await new ProfileStore(dir, fakeCipher(false)).activeSession()).token).toBeNull();
  });

  it('refuses profile changes while the active profile is signed in, and allows them after sign-out', async () => {
    const store = new ProfileStore(dir, fakeCipher());
    await store.upsert({ id: 'prod', name: 'Production', apiUrl: 'https://xp.example.com' });
    await store.setToken('local-token');

    await expect(store.upsert({ id: 'local', name: 'Local', apiUrl: 'http://localhost:9000' })).rejects.toMatchObject({ code: 'SIGNED_IN' });
    await expect(store.upsert({ id: 'evil', name: 'Evil', apiUrl: 'https://attacker.example' })).rejects.toMatchObject({ code: 'SIGNED_IN' });
    await expect(store.select('prod')).rejects.toMatchObject({ code: 'SIGNED_IN' });
    await expect(store.remove('prod')).rejects.toMatchObject({ code: 'SIGNED_IN' });
    expect(await store.select('local')).toEqual(await store.list());

    await store.setToken(null);
    await store.select('prod');
    expect(await store.hasToken()).toBe(false);
  });

  it('forgets the token when a profile moves to another server', async () => {
    // A file from before sign-out cleared tokens: staging still holds one while local is active.
    const encrypted = fakeCipher().encryptString('staging-token').toString('base64');
    await writeFile(
      path.join(dir, 'profiles.json'),
      JSON.stringify({ version: 1, active: 'local', profiles: [{ id: 'local', name: 'Local', apiUrl: 'http://localhost:8000' }, { id: 'staging', name: 'Staging', apiUrl: 'https://s.example.com', encryptedToken: encrypted }] }),
    );
    const store = new ProfileStore(dir, fakeCipher());

    await store.upsert({ id: 'staging', name: 'Staging', apiUrl: 'https://elsewhere.example.com' });
    await store.select('staging');

    expect(await store.activeSession()).toEqual({ profile: { id: 'staging', name: 'Staging', apiUrl: 'https://elsewhere.example.com' }, token: null });
  });

  it('clears a token with null and survives a damaged file', async () => {
    const store = new ProfileStore(dir, fakeCipher());
    await store.setToken('t1');
    await store.setToken(null);
    expect((await store.activeSession()).token).toBeNull();

    await writeFile(path.join(dir, 'profiles.json'), '{not json');

    expect((await store.list()).map((p) => p.id)).toEqual(['local']);
  });

  it('keeps a damaged profiles file aside instead of overwriting it, and says where', async () => {
    const store = new ProfileStore(dir, fakeCipher());
    await store.upsert({ id: 'staging', name: 'Staging', apiUrl: 'https://xp.staging.example.com' });
    const file = path.join(dir, 'profiles.json');
    const damaged = (await readFile(file, 'utf8')).replace('"profiles"', ',"profiles"');
    await writeFile(file, damaged);

    expect((await store.list()).map((p) => p.id)).toEqual(['local']);
    await store.select('local');

    const aside = (await readdir(dir)).filter((f) => f.startsWith('profiles.json.damaged-'));
    expect(aside).toHaveLength(1);
    expect(await readFile(path.join(dir, aside[0]!), 'utf8')).toBe(damaged);
    expect(store.damagedFileKeptAt).toBe(path.join(dir, aside[0]!));
  });

  it('applies changes made at the same time one after the other, losing none', async () => {
    const store = new ProfileStore(dir, fakeCipher());

    await Promise.all(['a', 'b', 'c', 'd'].map((id) => store.upsert({ id, name: id, apiUrl: `https://${id}.example.com` })));

    expect((await store.list()).map((p) => p.id).sort()).toEqual(['a', 'b', 'c', 'd', 'local']);
  });

  it('treats Linux basic_text storage (no secret store, a fixed password) as no encryption', async () => {
    const cipher = { ...fakeCipher(), getSelectedStorageBackend: () => 'basic_text' };
    const store = new ProfileStore(dir, cipher);

    await expect(store.setToken('t')).rejects.toMatchObject({ code: 'ENCRYPTION_UNAVAILABLE' });
    const keyring = new ProfileStore(dir, { ...fakeCipher(), getSelectedStorageBackend: () => 'gnome_libsecret' });
    expect(await keyring.setToken('t')).toBe(true);
    expect((await new ProfileStore(dir, cipher).activeSession()).token).toBeNull();
  });

  it('removes profiles, keeping one active', async () => {
    const store = new ProfileStore(dir, fakeCipher());
    await store.upsert({ id: 'prod', name: 'Production', apiUrl: 'https://xp.example.com' });
    await store.select('prod');

    const after = await store.remove('prod');

    expect(after).toEqual([{ id: 'local', name: 'Local', apiUrl: 'http://localhost:8000', hasToken: false, active: true }]);
    await expect(store.remove('prod')).rejects.toBeInstanceOf(ProfileError);
    await expect(store.select('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it.each([
    [{ id: 'x', name: 'X', apiUrl: 'file:///etc/passwd' }, /http/],
    [{ id: 'x', name: 'X', apiUrl: 'https://user:pw@example.com' }, /credentials/],
    [{ id: '../x', name: 'X', apiUrl: 'https://example.com' }, /id/],
    [{ id: 'x', name: '', apiUrl: 'https://example.com' }, /name/],
    ['not an object', /object/],
  ])('rejects an invalid profile %#', (input, message) => {
    expect(() => validateProfile(input)).toThrow(message);
  });
});
