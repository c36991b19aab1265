/** A bounded map with least-recently-used eviction (Map keeps insertion order). */
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

  delete(key: string): void {
    this.entries.delete(key);
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
}

/** A bounded set with least-recently-used eviction. */
export class LruSet extends LruMap<true> {
  /** Adds the key; returns false when it was already present (and refreshes it). */
  add(key: string): boolean {
    if (this.get(key) === true) {
      return false;
    }
    this.set(key, true);
    return true;
  }
}
