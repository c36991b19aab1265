import { describe, expect, it } from 'vitest';
import { seededRandom } from '@xp/shared';
import { LruMap, LruSet } from '../lru.js';

/** The reference: an array from least to most recently used. */
class ReferenceLru {
  readonly order: string[] = [];
  constructor(private readonly capacity: number) {}
  touch(key: string): boolean {
    const at = this.order.indexOf(key);
    if (at >= 0) {
      this.order.splice(at, 1);
    }
    this.order.push(key);
    if (this.order.length > this.capacity) {
      this.order.shift();
    }
    return at >= 0;
  }
  remove(key: string): void {
    const at = this.order.indexOf(key);
    if (at >= 0) {
      this.order.splice(at, 1);
    }
  }
}

describe('LruMap and LruSet', () => {
  it('evict exactly the least recently used key, over random hits, misses, updates and deletes', () => {
    const random = seededRandom(7);
    const mismatches: string[] = [];
    for (const capacity of [1, 2, 5, 64]) {
      const set = new LruSet(capacity);
      const map = new LruMap<number>(capacity);
      const setReference = new ReferenceLru(capacity);
      const mapReference = new ReferenceLru(capacity);
      const values = new Map<string, number>();
      for (let step = 0; step < 20_000; step++) {
        const key = `k${Math.floor(random() * capacity * 3)}`;
        const op = random();
        let got: unknown;
        let want: unknown;
        if (op < 0.1) {
          set.delete(key);
          map.delete(key);
          setReference.remove(key);
          mapReference.remove(key);
          continue;
        } else if (op < 0.5) {
          // A hit refreshes the key; a miss adds nothing to a map.
          const held = mapReference.order.includes(key);
          if (held) {
            mapReference.touch(key);
          }
          [got, want] = [map.get(key), held ? values.get(key) : undefined];
        } else {
          map.set(key, step);
          values.set(key, step);
          mapReference.touch(key);
          // add() is true for a key the set did not hold, and refreshes one it did.
          [got, want] = [set.add(key), !setReference.touch(key)];
        }
        if (got !== want) {
          mismatches.push(`capacity ${capacity} step ${step} ${key}: ${String(got)} ≠ ${String(want)}`);
        }
      }
      // What each holds is exactly its reference's keys.
      const all = Array.from({ length: capacity * 3 }, (_, i) => `k${i}`);
      expect(all.filter((k) => mapReference.order.includes(k) !== (map.get(k) !== undefined))).toEqual([]);
      expect(all.filter((k) => !setReference.order.includes(k)).every((k) => set.add(k))).toBe(true);
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it('keep evicting in order after far more evictions than the capacity (the eviction iterator survives rehashes)', () => {
    const map = new LruMap<number>(100);
    const refreshed: boolean[] = [];
    for (let i = 0; i < 100_000; i++) {
      map.set(`k${i}`, i);
      if (i % 3 === 0 && i >= 50) {
        // Refresh a key 50 insertions old: it must outlive the keys inserted after it.
        refreshed.push(map.get(`k${i - 50}`) === i - 50);
      }
    }
    expect(refreshed.every(Boolean)).toBe(true);
    // The 100 most recently used: the last 100 inserted, less those pushed out by the refreshed ones.
    const reference = new ReferenceLru(100);
    for (let i = 0; i < 100_000; i++) {
      reference.touch(`k${i}`);
      if (i % 3 === 0 && i >= 50) {
        reference.touch(`k${i - 50}`);
      }
    }
    const held = reference.order.filter((k) => map.get(k) !== undefined);
    expect(held).toHaveLength(100);
  });
});
