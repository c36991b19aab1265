import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../domain/context.js';
import { platformDeps, platformKeyFromEnv } from '../platform-deps.js';

const KEY_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:xp/test/platform-key-AbCdEf';
const GENERATED = 'a'.repeat(20) + 'B'.repeat(20) + '0123456789'.repeat(2) + 'xyzw';

/** A Secrets Manager stand-in that knows one secret and records what was asked. */
function secrets(values: Record<string, string>): { read: (arn: string) => Promise<string>; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    read: (arn) => {
      asked.push(arn);
      const value = values[arn];
      return value === undefined ? Promise.reject(new Error(`unexpected secret ${arn}`)) : Promise.resolve(value);
    },
  };
}

describe('the platform key from the environment', () => {
  it('reads the generated secret named by XP_PLATFORM_KEY_SECRET_ARN', async () => {
    const store = secrets({ [KEY_ARN]: GENERATED });

    const key = await platformKeyFromEnv({ XP_PLATFORM_KEY_SECRET_ARN: KEY_ARN }, store.read);

    expect(key?.toString()).toBe(GENERATED);
    expect(store.asked).toEqual([KEY_ARN]);
  });

  it('takes XP_PLATFORM_KEY as it is for local runs, without asking Secrets Manager', async () => {
    const store = secrets({});

    const key = await platformKeyFromEnv({ XP_PLATFORM_KEY: 'local-key-of-at-least-32-characters!!', XP_PLATFORM_KEY_SECRET_ARN: KEY_ARN }, store.read);

    expect(key?.toString()).toBe('local-key-of-at-least-32-characters!!');
    expect(store.asked).toEqual([]);
  });

  it('is absent when neither is set (webhooks then unavailable), and refuses a short key', async () => {
    await expect(platformKeyFromEnv({ XP_PLATFORM_KEY: '  ' }, secrets({}).read)).resolves.toBeUndefined();
    await expect(platformKeyFromEnv({ XP_PLATFORM_KEY: 'too-short' }, secrets({}).read)).rejects.toThrow('at least 32 characters');
  });
});

describe('platform deps', () => {
  // A pool is created without connecting, so no database is needed here.
  const base = { DATABASE_URL: 'postgres://xp@127.0.0.1:1/none', XP_RULESET_TABLE: 'rulesets' };

  it('carry the platform key and, when a sender function is named, a sender that invokes it', async () => {
    const deps = await platformDeps({ ...base, XP_PLATFORM_KEY_SECRET_ARN: KEY_ARN, XP_WEBHOOK_SENDER_FUNCTION: 'xp-dev-sender' }, silentLogger, secrets({ [KEY_ARN]: GENERATED }).read);
    const plain = await platformDeps(base, silentLogger, secrets({}).read);
    try {
      expect(deps.platformKey?.toString()).toBe(GENERATED);
      expect(typeof deps.webhookSender).toBe('function');
      expect(plain.platformKey).toBeUndefined();
      expect(plain.webhookSender).toBeUndefined();
    } finally {
      await Promise.all([deps.db.close(), plain.db.close()]);
    }
  });

  it('fail before opening a pool when the key secret cannot be read', async () => {
    await expect(platformDeps({ ...base, XP_PLATFORM_KEY_SECRET_ARN: KEY_ARN }, silentLogger, secrets({}).read)).rejects.toThrow('unexpected secret');
  });
});
