import type { EvaluationContext, TrackingEventDetails } from '@openfeature/core';
import { ExperimentationClient } from '../client.js';
import { ClientStatus } from '../types.js';
import type { ClientOptions } from '../types.js';
import { toUser } from './mapping.js';

/** What a provider is built from: a client to share, or the options to create its own. */
export type ProviderSource = ExperimentationClient | ({ readonly sdkKey: string } & ClientOptions);

/** Events a provider reports; each SDK's emitter maps them to its ProviderEvents. */
export interface ProviderSignals {
  ready(): void;
  changed(flags: readonly string[]): void;
}

/** The paradigm-independent half of the providers: client ownership, readiness, change events, tracking. */
export class ProviderCore {
  readonly client: ExperimentationClient;
  private readonly owned: boolean;
  private initialized = false;
  private failed = false;
  private readonly unsubscribe: () => void;

  constructor(source: ProviderSource, signals: ProviderSignals) {
    if (source instanceof ExperimentationClient) {
      this.client = source;
      this.owned = false;
    } else {
      const { sdkKey, ...options } = source;
      this.client = new ExperimentationClient(sdkKey, options);
      this.owned = true;
    }
    this.unsubscribe = this.client.onChange((flags) => {
      if (!this.initialized) {
        return;
      }
      if (this.failed) {
        // The API answered after initialize() gave up: the provider recovers to READY.
        this.failed = false;
        signals.ready();
      } else {
        signals.changed(flags);
      }
    });
  }

  /** Waits for `ready()`; rejects (so OpenFeature reports PROVIDER_ERROR) only when there is nothing to serve. */
  async initialize(): Promise<void> {
    const result = await this.client.ready();
    this.initialized = true;
    // The client's status now, not at its startup: a shared client may have got a ruleset since.
    if (this.client.status === ClientStatus.Defaults) {
      this.failed = true;
      throw new Error(`xp: no ruleset available (${result.error?.message ?? 'unknown reason'}); serving defaults until the API answers`);
    }
  }

  async close(): Promise<void> {
    this.unsubscribe();
    if (this.owned) {
      await this.client.close();
    }
  }

  track(name: string, context: EvaluationContext, details: TrackingEventDetails): void {
    this.client.trackEvent(name, toUser(context), details);
  }
}
