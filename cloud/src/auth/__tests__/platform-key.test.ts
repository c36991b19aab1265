import { describe, expect, it } from 'vitest';
import { PlatformKey, verifyWebhookSignature, webhookSignature } from '../platform-key.js';

describe('the platform key', () => {
  const key = PlatformKey.fromString('k'.repeat(32));

  it('refuses a short key with a message saying how to make one', () => {
    expect(() => PlatformKey.fromString('short')).toThrow(/at least 32 characters.*openssl rand/);
    expect(() => PlatformKey.fromString(`  ${'x'.repeat(31)}\n`)).toThrow();
    // Surrounding whitespace (a file's newline) is not part of the key.
    expect(PlatformKey.fromString(`${'k'.repeat(32)}\n`).webhookSecret('w', 1)).toBe(key.webhookSecret('w', 1));
  });

  it('derives a stable secret per webhook and version, unrelated across webhooks, versions and keys', () => {
    const secrets = new Set([key.webhookSecret('a', 1), key.webhookSecret('a', 2), key.webhookSecret('b', 1), PlatformKey.fromString('j'.repeat(32)).webhookSecret('a', 1)]);
    expect(secrets.size).toBe(4);
    expect(key.webhookSecret('a', 1)).toBe(PlatformKey.fromString('k'.repeat(32)).webhookSecret('a', 1));
    expect(key.webhookSecret('a', 1)).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
  });

  it('encrypts so that only the same key, purpose and context decrypt, and tampering is caught', () => {
    const url = 'https://hooks.slack.com/services/T000/B000/XXXX';
    const sealed = key.encrypt(url, 'webhook-url', 'id-1');
    expect(sealed).not.toContain('XXXX');
    expect(sealed).not.toBe(key.encrypt(url, 'webhook-url', 'id-1'));
    expect(key.decrypt(sealed, 'webhook-url', 'id-1')).toBe(url);
    expect(() => key.decrypt(sealed, 'webhook-url', 'id-2')).toThrow();
    expect(() => key.decrypt(sealed, 'other', 'id-1')).toThrow();
    expect(() => PlatformKey.fromString('j'.repeat(32)).decrypt(sealed, 'webhook-url', 'id-1')).toThrow();
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] = body[0]! ^ 1;
    expect(() => key.decrypt([...parts.slice(0, 3), body.toString('base64url')].join('.'), 'webhook-url', 'id-1')).toThrow();
    expect(() => key.decrypt('garbage', 'webhook-url', 'id-1')).toThrow(/not a platform-key ciphertext/);
  });

  it('never prints itself', () => {
    const generated = PlatformKey.generate();
    expect(JSON.stringify({ generated })).toBe('{"generated":"[platform key]"}');
    expect(generated.toString()).toHaveLength(44);
  });

  it('signs bodies as t=…,v1=… that a receiver verifies, and nothing else verifies', () => {
    const header = webhookSignature('whsec_x', '{"a":1}', 1_700_000_000);
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature('whsec_x', '{"a":1}', header)).toBe(true);
    expect(verifyWebhookSignature('whsec_y', '{"a":1}', header)).toBe(false);
    expect(verifyWebhookSignature('whsec_x', '{"a":2}', header)).toBe(false);
    expect(verifyWebhookSignature('whsec_x', '{"a":1}', header.replace('t=1700000000', 't=1700000001'))).toBe(false);
    expect(verifyWebhookSignature('whsec_x', '{"a":1}', 'v1=abc')).toBe(false);
  });
});
