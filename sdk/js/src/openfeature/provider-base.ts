import { ProviderFatalError } from '@openfeature/core';
import type { EvaluationContext, TrackingEventDetails } from '@openfeature/core';
import { ExperimentationClient } from '../client.js';
import { XpErrorCode } from '../errors.js';
import { ClientStatus } from '../types.js';
import type { ClientOptions, Logger } from '../types.js';
import { toUser } from './mapping.js';

/** What a provider is built from: a client to share, or the options to create its own. */
export type ProviderSource = ExperimentationClient | ({ readonly sdkKey: string } & ClientOptions);

/** Events a provider reports; each SDK's emitter maps them to its ProviderEvents. */
export interface ProviderSignals {
  /** The API answered after initialize() gave up: the provider recovers to READY. */
  ready(): void;
  changed(flags: readonly string[]): void;
}

/**
 * The paradigm-independent half of the providers: client ownership, readiness, change events, tracking.
 *
 * A provider can be initialized again after `close()` (OpenFeature closes it on `clearProviders`,
 * `close`, or when another provider replaces it; it may be set again later): `close()` returns it to
 * its uninitialized state and `initialize()` subscribes to the client's changes again; an owned
 * client, closed by `close()`, is created anew from the same options.
 */
export class ProviderCore {
  private clientValue: ExperimentationClient;
  /** The options an owned client is created from (again after close()); undefined for a shared client. */
  private readonly ownedOptions: ({ readonly sdkKey: string } & ClientOptions) | undefined;
  private initialized = false;
  private failed = false;
  private unsubscribe: (() => void) | undefined;
  private warnedTrack = false;
  /** Bumped by close(): an initialization that started before it is over. */
  private generation = 0;

  /** Where the provider's own warnings go: the options' logger, or the console for a shared client (its logger is its own). */
  private readonly logger: Pick<Logger, 'warn'>;

  constructor(
    source: ProviderSource,
    private readonly signals: ProviderSignals,
  ) {
    this.logger = source instanceof ExperimentationClient ? console : (source.logger ?? console);
    if (source instanceof ExperimentationClient) {
      this.clientValue = source;
      this.ownedOptions = undefined;
    } else {
      this.ownedOptions = source;
      this.clientValue = ProviderCore.create(source);
    }
  }

  private static create({ sdkKey, ...options }: { readonly sdkKey: string } & ClientOptions): ExperimentationClient {
    return new ExperimentationClient(sdkKey, options);
  }

  /** The client the provider evaluates with; an owned one is replaced when the provider is initialized again after close(). */
  get client(): ExperimentationClient {
    return this.clientValue;
  }

  /**
   * Waits for `ready()`; rejects (so OpenFeature reports PROVIDER_ERROR) only when there is nothing to
   * serve, and with PROVIDER_FATAL (ProviderFatalError) when that can never change: a configuration
   * that never reaches the API (not an xp SDK key, a malformed apiUrl, …), or a shared client closed by its owner.
   */
  async initialize(): Promise<void> {
    if (this.clientValue.status === ClientStatus.Closed) {
      if (this.ownedOptions === undefined) {
        throw new ProviderFatalError('xp: the shared ExperimentationClient given to the provider is closed; it cannot recover: create the provider with an open client');
      }
      // Closed by an earlier close(): the provider is being reused (set again after clearProviders, or after another provider replaced it).
      this.clientValue = ProviderCore.create(this.ownedOptions);
    }
    const client = this.clientValue;
    const generation = this.generation;
    this.unsubscribe ??= client.onChange((flags) => {
      if (!this.initialized) {
        return;
      }
      if (this.failed) {
        this.failed = false;
        this.signals.ready();
      } else {
        this.signals.changed(flags);
      }
    });
    const result = await client.ready();
    if (generation !== this.generation) {
      // close() ran meanwhile: that initialization is over.
      throw new ProviderFatalError('xp: the provider was closed while it was initializing');
    }
    // The client's status now, not at its startup: a shared client may have got a ruleset since.
    if (client.status === ClientStatus.Closed) {
      throw new ProviderFatalError('xp: the shared ExperimentationClient given to the provider was closed; it cannot recover: create the provider with an open client');
    }
    this.initialized = true;
    if (client.status === ClientStatus.Defaults) {
      if (result.error?.code === XpErrorCode.Configuration || (this.ownedOptions !== undefined && this.ownedOptions.apiUrl === undefined)) {
        // The client never sends a request: no answer will ever come.
        this.failed = false;
        this.initialized = false;
        throw new ProviderFatalError(
          `xp: no ruleset available and none can ever arrive (${result.error?.message ?? 'no apiUrl and no bootstrap'}): the provider cannot recover and serves defaults; fix the configuration`,
        );
      }
      this.failed = true;
      throw new Error(`xp: no ruleset available (${result.error?.message ?? 'unknown reason'}); serving defaults until the API answers`);
    }
    this.failed = false;
  }

  /** Returns the provider to its uninitialized state; closes an owned client (initialize() creates another). */
  async close(): Promise<void> {
    this.generation++;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.initialized = false;
    this.failed = false;
    if (this.ownedOptions !== undefined) {
      await this.clientValue.close();
    }
  }

  track(name: string, context: EvaluationContext, details: TrackingEventDetails): void {
    let user;
    try {
      user = toUser(context);
    } catch (e) {
      // A cyclic context (or a throwing getter): OpenFeature would log the throw at debug level only.
      if (!this.warnedTrack) {
        this.warnedTrack = true;
        this.logger.warn(
          `xp: track(${JSON.stringify(name)}) dropped: its evaluation context cannot be read as plain data (${e instanceof Error ? e.message : String(e)}; a cyclic object?); later such events are dropped without a warning (warned once)`,
        );
      }
      return;
    }
    this.client.trackEvent(name, user, details);
  }
}
