import type { StickyBucketStore } from '@xp/shared/eval';
import { stickyKey } from './memory-store.js';

/** The part of the Web Storage API the store uses (window.localStorage, sessionStorage, a test double). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

type Assignments = Readonly<Record<string, string>>;

function isAssignments(value: unknown): value is Assignments {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

/** `globalThis.localStorage`; undefined where reading it throws (a sandboxed frame without allow-same-origin, storage blocked). */
function defaultStorage(): StorageLike | undefined {
  try {
    return (globalThis as { localStorage?: StorageLike }).localStorage;
  } catch {
    return undefined;
  }
}

/** Sticky assignments in `localStorage` (browser); storage errors (quota, private mode) are ignored. */
export class LocalStorageStickyBucketStore implements StickyBucketStore {
  private readonly storage: StorageLike | undefined;
  private readonly prefix: string;

  constructor(options: { readonly storage?: StorageLike; readonly prefix?: string } = {}) {
    this.storage = options.storage ?? defaultStorage();
    this.prefix = options.prefix ?? 'xp:sticky:';
  }

  get(hashAttribute: string, hashValue: string): Assignments | undefined {
    try {
      const text = this.storage?.getItem(this.prefix + stickyKey(hashAttribute, hashValue));
      if (text === null || text === undefined) {
        return undefined;
      }
      const parsed: unknown = JSON.parse(text);
      return isAssignments(parsed) ? parsed : undefined;
    } catch {
      return undefined;
    }
  }

  set(hashAttribute: string, hashValue: string, assignments: Assignments): void {
    try {
      this.storage?.setItem(this.prefix + stickyKey(hashAttribute, hashValue), JSON.stringify(assignments));
    } catch {
      // Full or disabled storage: the unit is simply not sticky on this device.
    }
  }
}

export { isAssignments };
