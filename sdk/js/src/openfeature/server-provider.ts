import { OpenFeatureEventEmitter, ProviderEvents } from '@openfeature/server-sdk';
import type { EvaluationContext, JsonValue, Provider, ResolutionDetails, TrackingEventDetails } from '@openfeature/server-sdk';
import type { ExperimentationClient } from '../client.js';
import { resolveFlag } from './mapping.js';
import { ProviderCore } from './provider-base.js';
import type { ProviderSource } from './provider-base.js';

/**
 * xp as an OpenFeature server provider (`@openfeature/server-sdk`, dynamic context): local
 * evaluation per call, `targetingKey` as the unit id. Never throws; errors come back as defaults
 * with an error code.
 */
export class XpServerProvider implements Provider {
  readonly metadata = { name: 'xp' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  private readonly core: ProviderCore;

  constructor(source: ProviderSource) {
    this.core = new ProviderCore(source, {
      ready: () => {
        this.events.emit(ProviderEvents.Ready);
      },
      changed: (flags) => {
        this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: [...flags] });
      },
    });
  }

  /** The underlying client, e.g. for `getVariant` or `trackEvent`. */
  get client(): ExperimentationClient {
    return this.core.client;
  }

  initialize(): Promise<void> {
    return this.core.initialize();
  }

  onClose(): Promise<void> {
    // OpenFeature adds its forwarding handlers to `events` at every set and leaves them after
    // clearProviders(): without this, a provider set again would deliver each event once per set.
    this.events.removeAllHandlers();
    return this.core.close();
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    return Promise.resolve(resolveFlag(this.core.client, flagKey, defaultValue, context));
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<ResolutionDetails<string>> {
    return Promise.resolve(resolveFlag(this.core.client, flagKey, defaultValue, context));
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): Promise<ResolutionDetails<number>> {
    return Promise.resolve(resolveFlag(this.core.client, flagKey, defaultValue, context));
  }

  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): Promise<ResolutionDetails<T>> {
    return Promise.resolve(resolveFlag(this.core.client, flagKey, defaultValue, context));
  }

  track(trackingEventName: string, context: EvaluationContext, details: TrackingEventDetails): void {
    this.core.track(trackingEventName, context, details);
  }
}
