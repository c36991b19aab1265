import { keySchema } from '@xp/shared';
import { KeyAllocator } from './import-growthbook.js';

/** What a warning says when a source's key had to change to become an xp key (the allocator's rule). */
export const KEY_RULES = 'xp keys allow only letters, digits, "_", "." and "-", at most 128';

/** A flag or segment the project has already (its description says what it was imported from). */
export interface ExistingDefinition {
  readonly key: string;
  readonly description?: string | undefined;
}

/**
 * The xp keys an import from another product (LaunchDarkly, Unleash) may give, remembering which of
 * the project's keys earlier imports gave to which source (from the descriptions they wrote, read by
 * `origin`): the importers' `allocate` keeps a source's key from one import to the next, and never
 * hands a key holding one source to another. Valid keys of the data are reserved for themselves.
 */
export abstract class ImportedKeys {
  protected readonly allocator = new KeyAllocator(/[^A-Za-z0-9_.-]+/g, 128);
  /** xp key → the source it was imported from (undefined: not imported). */
  protected readonly origins = new Map<string, string | undefined>();
  /** Source → the xp key an earlier import gave it under another name. */
  protected readonly earlier = new Map<string, string>();

  /** `renamedOnly`: remember an earlier key only for a source that is no valid xp key (it had to be renamed). */
  constructor(
    protected readonly what: 'flag' | 'segment',
    candidates: Iterable<string>,
    existing: readonly ExistingDefinition[],
    origin: RegExp,
    renamedOnly: boolean,
  ) {
    for (const key of candidates) {
      if (keySchema.safeParse(key).success) {
        this.allocator.reserve(key);
      }
    }
    for (const e of existing) {
      const from = origin.exec(e.description ?? '')?.[1];
      this.origins.set(e.key, from);
      this.allocator.reserve(e.key);
      if (from !== undefined && from !== e.key && !(renamedOnly && keySchema.safeParse(from).success)) {
        this.earlier.set(from, e.key);
      }
    }
  }

  release(key: string): void {
    this.allocator.release(key);
  }

  /** Whether the project has `key` and it was not imported from `source`. */
  replacesOther(key: string, source: string): boolean {
    return this.origins.has(key) && this.origins.get(key) !== source;
  }
}
