import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The platform's own secret: what webhook signing secrets are derived from and what webhook URLs
 * (which often carry a token, as Slack's do) are encrypted under. PostgreSQL holds neither a
 * signing secret nor a URL in clear, so a database dump alone can forge no webhook and reveal no
 * receiver. Locally it lives in the data directory (0600); on AWS in Secrets Manager.
 * Changing it invalidates every webhook's signing secret and stored URL.
 */
export class PlatformKey {
  /** Smallest accepted secret string: 32 characters of a random base64 string carry 192 bits. */
  static readonly MIN_LENGTH = 32;

  private readonly material: Buffer;

  private constructor(private readonly source: string) {
    this.material = createHash('sha256').update(source, 'utf8').digest();
  }

  /** A key from its stored string (`openssl rand -base64 32`, a generated secret…). */
  static fromString(value: string): PlatformKey {
    const trimmed = value.trim();
    if (trimmed.length < PlatformKey.MIN_LENGTH) {
      throw new Error(`the platform key must be at least ${PlatformKey.MIN_LENGTH} characters (e.g. the output of \`openssl rand -base64 32\`)`);
    }
    return new PlatformKey(trimmed);
  }

  static generate(): PlatformKey {
    return new PlatformKey(randomBytes(32).toString('base64'));
  }

  /** The string to store; never log it. */
  toString(): string {
    return this.source;
  }

  /** Keeps the key out of `console.log` and JSON. */
  toJSON(): string {
    return '[platform key]';
  }

  private derive(purpose: string): Buffer {
    return createHmac('sha256', this.material).update(purpose, 'utf8').digest();
  }

  /** The signing secret of one webhook; a new `version` (a rotation) gives an unrelated one. */
  webhookSecret(webhookId: string, version: number): string {
    return `whsec_${this.derive(`webhook-secret:${webhookId}:${version}`).toString('base64url')}`;
  }

  /** AES-256-GCM under a key derived for `purpose`; `context` (a row id) must match on decryption. */
  encrypt(plaintext: string, purpose: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.derive(`encrypt:${purpose}`), iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }

  /** The plaintext of `encrypt`; throws when the ciphertext, purpose, context or key differ. */
  decrypt(ciphertext: string, purpose: string, context: string): string {
    const [version, iv, tag, body] = ciphertext.split('.');
    if (version !== 'v1' || iv === undefined || tag === undefined || body === undefined) {
      throw new Error('not a platform-key ciphertext');
    }
    const decipher = createDecipheriv('aes-256-gcm', this.derive(`encrypt:${purpose}`), Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, one v1 per secret in the order given: what a receiver checks. */
export function webhookSignature(secrets: string | readonly string[], body: string, unixSeconds: number): string {
  const macs = (typeof secrets === 'string' ? [secrets] : secrets).map((secret) => createHmac('sha256', secret).update(`${unixSeconds}.${body}`, 'utf8').digest('hex'));
  return [`t=${unixSeconds}`, ...macs.map((mac) => `v1=${mac}`)].join(',');
}

/**
 * Checks a signature header as a receiver would (constant-time): any of its v1 signatures (two
 * while a rotated secret's predecessor still signs) made with `secret`. For tests and the docs.
 */
export function verifyWebhookSignature(secret: string, body: string, header: string): boolean {
  const parts = header.split(',').map((p) => p.split('=', 2) as [string, string]);
  const t = Number(parts.find(([k]) => k === 't')?.[1]);
  if (!Number.isInteger(t)) {
    return false;
  }
  const expected = Buffer.from(webhookSignature(secret, body, t).split('v1=')[1]!, 'utf8');
  return parts
    .filter(([k]) => k === 'v1')
    .map(([, given]) => Buffer.from(given, 'utf8'))
    .some((actual) => expected.length === actual.length && timingSafeEqual(expected, actual));
}
