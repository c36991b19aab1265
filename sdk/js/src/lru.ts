/** A bounded set with least-recently-used eviction (Map keeps insertion order). */
export class LruSet {
  private readonly entries = new Map<string, true>();

  constructor(private readonly capacity: number) {}

  /** Adds the key; returns false when it was already present (and refreshes it). */
  add(key: string): boolean {
    if (this.entries.has(key)) {
      this.entries.delete(key);
      this.entries.set(key, true);
      return false;
    }
    this.entries.set(key, true);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) {
        this.entries.delete(oldest.value);
      }
    }
    return true;
  }

  get size(): number {
    return this.entries.size;
  }
}

/** A bounded map with least-recently-used eviction. */
export class LruMap<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly capacity: number) {}

  get(key: string): V | undefined {
    const v = this.entries.get(key);
    if (v !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, v);
    }
    return v;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) {
        this.entries.delete(oldest.value);
      }
    }
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
