/**
 * What a webhook can subscribe to: the audit actions of a project, `<resource type>.<verb>`.
 * The API refuses a pattern outside this catalog (a typo such as `flg.*` would otherwise never
 * match anything, silently); the console offers it as a picker. The cloud's tests check that every
 * action the platform records in a project (whatever its resource type) is listed here, as a
 * webhook receives each of them.
 */
export const WEBHOOK_EVENTS = {
  // change-scheduled … scheduled-change-failed: a scheduled change's life (POST …/flags/{key}/scheduled-changes).
  flag: ['created', 'updated', 'enabled', 'disabled', 'environment.updated', 'deleted', 'rolled-back', 'change-scheduled', 'scheduled-change-cancelled', 'scheduled-change-applied', 'scheduled-change-failed'],
  experiment: ['created', 'updated', 'started', 'stopped', 'resumed', 'guardrail-degraded', 'deleted'],
  segment: ['created', 'updated', 'deleted'],
  metric: ['created', 'updated', 'deleted'],
  holdout: ['created', 'updated', 'deleted'],
  environment: ['created', 'updated', 'deleted'],
  'sdk-key': ['created', 'rotated', 'revoked'],
  // approval-withdrawn: its approver was disabled or lost the right to approve in the project (the request awaits a review again).
  // failed: a request with a time (applyAt) that could not be applied then (not approved, or no longer applicable).
  'change-request': ['proposed', 'approved', 'rejected', 'applied', 'cancelled', 'approval-withdrawn', 'failed'],
  project: ['created', 'updated'],
  rulesets: ['republished'],
  // tested: a test delivery sent (with how it went); redelivered: a past delivery's payload queued again to the current URL.
  webhook: ['created', 'updated', 'secret-rotated', 'deleted', 'tested', 'redelivered'],
  // deleted: a repository branch's references removed (DELETE …/code-refs?repository=&branch=), with how many.
  'code-refs': ['uploaded', 'deleted'],
  // A user's role in this project set or removed (their organisation role applies there again).
  user: ['project-role-set', 'project-role-removed'],
  // Units' data erased on request (the diff holds the ids' SHA-256 hashes and the counts, never the ids).
  unit: ['erased', 'exported'],
  // A person acknowledged a guardrail alert, or withdrew that (the diff names the alert; the entry's key is its experiment).
  alert: ['acknowledged', 'unacknowledged'],
} as const satisfies Readonly<Record<string, readonly string[]>>;

export type WebhookResourceType = keyof typeof WEBHOOK_EVENTS;

/** Every action a webhook can name exactly, in catalog order ('flag.created', …). */
export const WEBHOOK_ACTIONS: readonly string[] = Object.entries(WEBHOOK_EVENTS).flatMap(([type, verbs]) => verbs.map((verb) => `${type}.${verb}`));

const ACTIONS = new Set(WEBHOOK_ACTIONS);
const TYPES = new Set<string>(Object.keys(WEBHOOK_EVENTS));

/**
 * Why `pattern` is not an event a webhook can subscribe to, or undefined when it is: `*`, a
 * resource type's every action (`flag.*`) or one action of the catalog (`flag.updated`).
 */
export function webhookEventProblem(pattern: string): string | undefined {
  if (pattern === '*' || ACTIONS.has(pattern)) {
    return undefined;
  }
  if (pattern.endsWith('.*')) {
    const type = pattern.slice(0, -2);
    return TYPES.has(type) ? undefined : `unknown resource type "${type}": one of ${[...TYPES].join(', ')}`;
  }
  const dot = pattern.indexOf('.');
  const type = dot < 0 ? pattern : pattern.slice(0, dot);
  if (!TYPES.has(type)) {
    return `unknown event "${pattern}": use *, <type>.* or an action such as flag.updated (types: ${[...TYPES].join(', ')})`;
  }
  const verbs: readonly string[] = WEBHOOK_EVENTS[type as WebhookResourceType];
  return `unknown event "${pattern}": ${type} actions are ${verbs.map((v) => `${type}.${v}`).join(', ')} (or ${type}.*)`;
}

