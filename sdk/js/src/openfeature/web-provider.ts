import { ErrorCode, OpenFeatureEventEmitter, ProviderEvents, StandardResolutionReasons } from '@openfeature/web-sdk';
import type { EvaluationContext, JsonValue, Provider, ResolutionDetails, TrackingEventDetails } from '@openfeature/web-sdk';
import { COUNT_EVALUATION } from '../client.js';
import type { ExperimentationClient } from '../client.js';
import { resolveFlag, toUser } from './mapping.js';
import { ProviderCore } from './provider-base.js';
import type { ProviderSource } from './provider-base.js';

/**
 * xp as an OpenFeature web provider (`@openfeature/web-sdk`, static context): evaluation is
 * local and synchronous against the context OpenFeature holds. With a sticky-bucket store that must
 * preload (an async store, such as the Redis example), it loads the unit's sticky assignments
 * before serving them: at initialization, on a context change, when the API answers after a failed
 * start (before PROVIDER_READY; evaluations answer PROVIDER_NOT_READY meanwhile, as before the
 * answer), and when a ruleset brings sticky experiments not loaded for the unit yet (before
 * PROVIDER_CONFIGURATION_CHANGED). Without such a store there is nothing to reconcile.
 */
export class XpWebProvider implements Provider {
  readonly metadata = { name: 'xp' } as const;
  readonly runsOn = 'client' as const;
  readonly events = new OpenFeatureEventEmitter();
  private readonly core: ProviderCore;
  /** The context OpenFeature holds: the unit whose sticky assignments are preloaded. */
  private context: EvaluationContext | undefined;
  /** Keys of the sticky experiments whose assignments were preloaded for `context`. */
  private preloaded = new Set<string>();
  /** Recovering from a failed start: the unit's sticky assignments are loading, nothing is served. */
  private holding = false;
  /** Bumped by onClose: work started before it emits nothing. */
  private generation = 0;

  constructor(source: ProviderSource) {
    this.core = new ProviderCore(source, {
      ready: () => {
        this.recovered();
      },
      changed: (flags) => {
        this.changed(flags);
      },
    });
  }

  get client(): ExperimentationClient {
    return this.core.client;
  }

  async initialize(context?: EvaluationContext): Promise<void> {
    this.context = context;
    this.preloaded = new Set();
    this.holding = false;
    await this.core.initialize();
    await this.preload();
  }

  onContextChange(_oldContext: EvaluationContext, newContext: EvaluationContext): Promise<void> {
    this.context = newContext;
    this.preloaded = new Set();
    return this.preload();
  }

  onClose(): Promise<void> {
    this.generation++;
    this.holding = false;
    // As the server provider: OpenFeature's forwarding handlers would pile up over sets.
    this.events.removeAllHandlers();
    return this.core.close();
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): ResolutionDetails<boolean> {
    return this.resolve(flagKey, defaultValue, context);
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): ResolutionDetails<string> {
    return this.resolve(flagKey, defaultValue, context);
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): ResolutionDetails<number> {
    return this.resolve(flagKey, defaultValue, context);
  }

  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): ResolutionDetails<T> {
    return this.resolve(flagKey, defaultValue, context);
  }

  track(trackingEventName: string, context: EvaluationContext, details: TrackingEventDetails): void {
    this.core.track(trackingEventName, context, details);
  }

  private resolve<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): ResolutionDetails<T> {
    if (this.holding) {
      // Bucketing now would miss the unit's stored sticky assignments and overwrite them.
      // Still a resolution, which served the default.
      this.core.client[COUNT_EVALUATION](flagKey, null);
      return {
        value: defaultValue,
        reason: StandardResolutionReasons.ERROR,
        errorCode: ErrorCode.PROVIDER_NOT_READY,
        errorMessage: "loading the unit's sticky assignments",
      };
    }
    return resolveFlag(this.core.client, flagKey, defaultValue, context);
  }

  /** The keys of the current ruleset's sticky experiments. */
  private stickyExperiments(): string[] {
    const experiments = this.core.client.getSnapshot({ includeServerOnly: true })?.experiments as Readonly<Record<string, { readonly sticky?: unknown }>> | undefined;
    return experiments === undefined ? [] : Object.keys(experiments).filter((key) => experiments[key]?.sticky !== undefined);
  }

  /** Preloads the context's sticky assignments (never rejects: a store that fails leaves the unit not sticky). */
  private async preload(): Promise<void> {
    const context = this.context;
    if (context === undefined) {
      return;
    }
    const sticky = this.stickyExperiments();
    try {
      await this.core.client.preloadStickyBuckets(toUser(context));
    } catch {
      // A context that cannot be read (cyclic): evaluations answer for it as they can.
      return;
    }
    if (context === this.context) {
      for (const key of sticky) {
        this.preloaded.add(key);
      }
    }
  }

  /** The API answered after a failed start: preload, then PROVIDER_READY. */
  private recovered(): void {
    const generation = this.generation;
    this.holding = true;
    void this.preload().finally(() => {
      if (generation === this.generation) {
        this.holding = false;
        this.events.emit(ProviderEvents.Ready);
      }
    });
  }

  /** A ruleset update: preload first when it brings sticky experiments the unit was not loaded for. */
  private changed(flags: readonly string[]): void {
    const emit = (): void => {
      this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: [...flags] });
    };
    if (this.context === undefined || this.stickyExperiments().every((key) => this.preloaded.has(key))) {
      emit();
      return;
    }
    const generation = this.generation;
    void this.preload().finally(() => {
      if (generation === this.generation) {
        emit();
      }
    });
  }
}
