import type { StickyBucketStore } from '@xp/shared/eval';
import { isAssignments } from './local-storage-store.js';
import { stickyKey } from './memory-store.js';

/** The part of `document` the store uses. */
export interface CookieJar {
  cookie: string;
}

export interface CookieStoreOptions {
  /** Default `globalThis.document`. */
  readonly document?: CookieJar;
  /** Cookie name prefix. Default `xp_sb_`. */
  readonly prefix?: string;
  /** Default 180 days. */
  readonly maxAgeSeconds?: number;
  /** Default `/`. */
  readonly path?: string;
  readonly domain?: string;
  /** Default `Lax`. */
  readonly sameSite?: 'Strict' | 'Lax' | 'None';
  /** Default: true on https pages. */
  readonly secure?: boolean;
}

type Assignments = Readonly<Record<string, string>>;

/** Sticky assignments in first-party cookies (browser), one cookie per unit; cookie errors (blocked cookies) are ignored. */
export class CookieStickyBucketStore implements StickyBucketStore {
  private readonly jar: CookieJar | undefined;
  private readonly o: CookieStoreOptions;

  constructor(options: CookieStoreOptions = {}) {
    this.jar = options.document ?? (globalThis as { document?: CookieJar }).document;
    this.o = options;
  }

  private name(hashAttribute: string, hashValue: string): string {
    return (this.o.prefix ?? 'xp_sb_') + encodeURIComponent(stickyKey(hashAttribute, hashValue));
  }

  get(hashAttribute: string, hashValue: string): Assignments | undefined {
    const name = this.name(hashAttribute, hashValue);
    try {
      for (const part of (this.jar?.cookie ?? '').split(';')) {
        const eq = part.indexOf('=');
        if (eq !== -1 && part.slice(0, eq).trim() === name) {
          const parsed: unknown = JSON.parse(decodeURIComponent(part.slice(eq + 1).trim()));
          return isAssignments(parsed) ? parsed : undefined;
        }
      }
    } catch {
      // A cookie we cannot read is treated as absent.
    }
    return undefined;
  }

  set(hashAttribute: string, hashValue: string, assignments: Assignments): void {
    if (this.jar === undefined) {
      return;
    }
    const secure = this.o.secure ?? (globalThis as { location?: { protocol?: string } }).location?.protocol === 'https:';
    const attrs = [
      `Max-Age=${this.o.maxAgeSeconds ?? 180 * 24 * 3600}`,
      `Path=${this.o.path ?? '/'}`,
      `SameSite=${this.o.sameSite ?? 'Lax'}`,
      ...(this.o.domain === undefined ? [] : [`Domain=${this.o.domain}`]),
      ...(secure ? ['Secure'] : []),
    ];
    try {
      this.jar.cookie = `${this.name(hashAttribute, hashValue)}=${encodeURIComponent(JSON.stringify(assignments))}; ${attrs.join('; ')}`;
    } catch {
      // Cookies blocked (a sandboxed frame throws SecurityError): the unit is simply not sticky on this device.
    }
  }
}
