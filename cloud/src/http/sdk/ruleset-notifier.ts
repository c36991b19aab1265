import type { Logger, RulesetNotifier } from '../../domain/context.js';
import type { PublishedRuleset } from '../../store/ruleset-store.js';

type Listener = (ruleset: PublishedRuleset) => void;

const keyOf = (projectId: string, environment: string): string => `${projectId}#${environment}`;

/**
 * The in-process notifier: the publisher calls `published` after each put, SDK streams and caches
 * subscribe. Other instances learn of new versions by polling the store (see RulesetCache).
 */
export function createRulesetNotifier(logger?: Logger): RulesetNotifier {
  const listeners = new Map<string, Set<Listener>>();
  return {
    published(ruleset) {
      const set = listeners.get(keyOf(ruleset.projectId, ruleset.environment));
      if (set === undefined) {
        return;
      }
      for (const listener of [...set]) {
        try {
          listener(ruleset);
        } catch (error) {
          // A broken listener must not fail the publish that triggered it.
          logger?.error('ruleset listener failed', { error: error instanceof Error ? error.message : 'unknown' });
        }
      }
    },
    subscribe(projectId, environment, listener) {
      const key = keyOf(projectId, environment);
      let set = listeners.get(key);
      if (set === undefined) {
        set = new Set();
        listeners.set(key, set);
      }
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0 && listeners.get(key) === set) {
          listeners.delete(key);
        }
      };
    },
  };
}
