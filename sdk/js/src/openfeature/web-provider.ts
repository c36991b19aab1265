import { OpenFeatureEventEmitter, ProviderEvents } from '@openfeature/web-sdk';
import type { EvaluationContext, JsonValue, Provider, ResolutionDetails, TrackingEventDetails } from '@openfeature/web-sdk';
import type { ExperimentationClient } from '../client.js';
import { resolveFlag, toUser } from './mapping.js';
import { ProviderCore } from './provider-base.js';
import type { ProviderSource } from './provider-base.js';

/**
 * xp as an OpenFeature web provider (`@openfeature/web-sdk`, static context): evaluation is
 * local and synchronous against the context OpenFeature holds. On a context change it preloads
 * the unit's sticky assignments when the store needs it (an async store); otherwise there is
 * nothing to reconcile.
 */
export class XpWebProvider implements Provider {
  readonly metadata = { name: 'xp' } as const;
  readonly runsOn = 'client' as const;
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

  get client(): ExperimentationClient {
    return this.core.client;
  }

  async initialize(context?: EvaluationContext): Promise<void> {
    await this.core.initialize();
    if (context !== undefined) {
      await this.core.client.preloadStickyBuckets(toUser(context));
    }
  }

  onContextChange(_oldContext: EvaluationContext, newContext: EvaluationContext): Promise<void> {
    return this.core.client.preloadStickyBuckets(toUser(newContext));
  }

  onClose(): Promise<void> {
    return this.core.close();
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): ResolutionDetails<boolean> {
    return resolveFlag(this.core.client, flagKey, defaultValue, context);
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): ResolutionDetails<string> {
    return resolveFlag(this.core.client, flagKey, defaultValue, context);
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): ResolutionDetails<number> {
    return resolveFlag(this.core.client, flagKey, defaultValue, context);
  }

  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): ResolutionDetails<T> {
    return resolveFlag(this.core.client, flagKey, defaultValue, context);
  }

  track(trackingEventName: string, context: EvaluationContext, details: TrackingEventDetails): void {
    this.core.track(trackingEventName, context, details);
  }
}
