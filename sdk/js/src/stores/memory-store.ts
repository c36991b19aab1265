import type { StickyBucketStore } from '@xp/shared/eval';
import { LruMap } from '../lru.js';

type Assignments = Readonly<Record<string, string>>;

/** The storage key of one unit's assignments, as the spec corpus writes it. */
export function stickyKey(hashAttribute: string, hashValue: string): string {
  return `${hashAttribute}||${hashValue}`;
}

/** Sticky assignments in process memory, bounded (least recently used units are forgotten). */
export class MemoryStickyBucketStore implements StickyBucketStore {
  private readonly units: LruMap<Assignments>;

  constructor(options: { readonly maxUnits?: number; readonly initial?: Readonly<Record<string, Assignments>> } = {}) {
    this.units = new LruMap(options.maxUnits ?? 100_000);
    for (const [key, assignments] of Object.entries(options.initial ?? {})) {
      this.units.set(key, { ...assignments });
    }
  }

  get(hashAttribute: string, hashValue: string): Assignments | undefined {
    return this.units.get(stickyKey(hashAttribute, hashValue));
  }

  set(hashAttribute: string, hashValue: string, assignments: Assignments): void {
    this.units.set(stickyKey(hashAttribute, hashValue), { ...assignments });
  }
}
