/**
 * Alarm-driven rollback: a CloudWatch guardrail alarm publishes to SNS; this function switches the
 * linked flag off (it then serves its off variation) in the named environment, through the same
 * services as the API, as a system actor whose audit entries name the alarm. The stacks wire SNS;
 * the same alarm's EventBridge "CloudWatch Alarm State Change" event is read too (an event of
 * neither shape is logged as an error and ignored).
 *
 * An alarm is linked to a flag by a line in its description (the CDK `FlagGuardrail` writes it):
 *   xp:rollback project=<project key> flag=<flag key> environment=<environment key> [org=<org id>]
 */
import { LoginRateLimiter } from '../auth/rate-limit.js';
import type { Actor, Deps, Logger } from '../domain/context.js';
import { createServices } from '../domain/services.js';
import type { Services } from '../domain/services.js';
import { AppError, AppErrorCode } from '../errors.js';
import { EmfMetrics, MetricName } from './metrics.js';
import { platformDeps } from './platform-deps.js';
import { functionLogger, lazy, stageOf } from './runtime.js';
import type { SecretReader } from './runtime.js';

/** Lambda's SNS event (the fields used here). */
export interface SnsEvent {
  readonly Records: readonly { readonly EventSource?: string; readonly Sns: { readonly Message: string; readonly TopicArn?: string; readonly MessageId?: string } }[];
}

/** EventBridge's "CloudWatch Alarm State Change" event (the fields used here). */
export interface AlarmStateChangeEvent {
  readonly source?: string;
  readonly 'detail-type'?: string;
  readonly resources?: readonly string[];
  readonly detail?: {
    readonly alarmName?: string;
    readonly state?: { readonly value?: string; readonly reason?: string; readonly timestamp?: string };
    readonly configuration?: { readonly description?: string | null };
  };
}

/** An SNS notification (what the stacks wire), or the same alarm's EventBridge state change event. */
export type AlarmEvent = SnsEvent | AlarmStateChangeEvent;

/** The alarm notification an EventBridge state change event carries, or undefined when it is not one. */
function fromEventBridge(event: AlarmStateChangeEvent): AlarmNotification | undefined {
  const d = event.detail;
  if (event['detail-type'] !== 'CloudWatch Alarm State Change' || typeof d?.alarmName !== 'string' || typeof d.state?.value !== 'string') {
    return undefined;
  }
  return {
    AlarmName: d.alarmName,
    AlarmDescription: d.configuration?.description ?? null,
    NewStateValue: d.state.value,
    ...(d.state.reason === undefined ? {} : { NewStateReason: d.state.reason }),
    ...(d.state.timestamp === undefined ? {} : { StateChangeTime: d.state.timestamp }),
    ...(event.resources?.[0] === undefined ? {} : { AlarmArn: event.resources[0] }),
  };
}

const NOT_AN_ALARM = 'the SNS message is not a CloudWatch alarm notification';

/** The alarm notifications in an invocation's event, each or the reason it is not one. */
function notificationsOf(event: AlarmEvent): (AlarmNotification | { readonly ignored: string })[] {
  if (!('Records' in event) || !Array.isArray(event.Records)) {
    const alarm = fromEventBridge(event as AlarmStateChangeEvent);
    return [alarm ?? { ignored: 'the event is neither an SNS notification (Records) nor a CloudWatch Alarm State Change event' }];
  }
  return event.Records.map((record: SnsEvent['Records'][number]) => {
    let alarm: AlarmNotification;
    try {
      alarm = JSON.parse(record.Sns.Message) as AlarmNotification;
    } catch {
      return { ignored: NOT_AN_ALARM };
    }
    return typeof alarm.AlarmName !== 'string' || typeof alarm.NewStateValue !== 'string' ? { ignored: NOT_AN_ALARM } : alarm;
  });
}

/** The CloudWatch alarm notification carried in the SNS message. */
export interface AlarmNotification {
  readonly AlarmName: string;
  readonly AlarmDescription?: string | null;
  readonly NewStateValue: string;
  readonly NewStateReason?: string;
  readonly StateChangeTime?: string;
  readonly AlarmArn?: string;
}

export interface RollbackLink {
  readonly project: string;
  readonly flag: string;
  readonly environment: string;
  readonly org?: string;
}

/** What happened to one notification. */
export type RollbackOutcome =
  | { readonly kind: 'rolled-back'; readonly alarm: string; readonly link: RollbackLink; readonly version: number }
  | { readonly kind: 'already-off'; readonly alarm: string; readonly link: RollbackLink }
  | { readonly kind: 'ignored'; readonly alarm: string; readonly reason: string };

const MARKER = /xp:rollback\s+([^\n]+)/;

/** The link in an alarm description, or undefined when the alarm is not linked to a flag. */
export function parseRollbackLink(description: string | null | undefined): RollbackLink | undefined {
  const line = MARKER.exec(description ?? '')?.[1];
  if (line === undefined) {
    return undefined;
  }
  const fields = new Map(
    line
      .trim()
      .split(/\s+/)
      .map((pair) => pair.split('=', 2) as [string, string | undefined])
      .filter((p): p is [string, string] => p[1] !== undefined && p[1] !== ''),
  );
  const project = fields.get('project');
  const flag = fields.get('flag');
  const environment = fields.get('environment');
  if (project === undefined || flag === undefined || environment === undefined) {
    return undefined;
  }
  const org = fields.get('org');
  return { project, flag, environment, ...(org === undefined ? {} : { org }) };
}

/** The description line that links an alarm to a flag. */
export function rollbackDescription(link: RollbackLink): string {
  return `xp:rollback project=${link.project} flag=${link.flag} environment=${link.environment}${link.org === undefined ? '' : ` org=${link.org}`}`;
}

async function orgOf(deps: Deps, link: RollbackLink): Promise<string> {
  if (link.org !== undefined) {
    return link.org;
  }
  const rows = await deps.db.query<{ org_id: string }>('SELECT org_id FROM projects WHERE key = $1', [link.project]);
  if (rows.rows.length !== 1) {
    throw new AppError(AppErrorCode.NotFound, `project "${link.project}" ${rows.rows.length === 0 ? 'does not exist' : 'exists in several organisations: add org=<id> to the link'}`);
  }
  return rows.rows[0]!.org_id;
}

const MAX_CONFLICT_RETRIES = 3;

/** Switches the linked flag off; idempotent (an already-off flag is left alone). */
export async function rollBack(services: Services, alarm: AlarmNotification): Promise<RollbackOutcome> {
  const link = parseRollbackLink(alarm.AlarmDescription);
  if (link === undefined) {
    return { kind: 'ignored', alarm: alarm.AlarmName, reason: 'the alarm description has no xp:rollback link' };
  }
  if (alarm.NewStateValue !== 'ALARM') {
    return { kind: 'ignored', alarm: alarm.AlarmName, reason: `state is ${alarm.NewStateValue}` };
  }
  const actor: Actor = { userId: 'system:alarm-rollback', orgId: await orgOf(services.deps, link), email: `alarm:${alarm.AlarmName}`, role: 'admin', client: 'alarm-rollback', credential: { kind: 'system', id: 'alarm-rollback' } };
  // A link naming an environment (or project) that does not exist is a broken link, not a flag that
  // is off there: it fails (NOT_FOUND) like an unknown flag, so it is retried, lands in the failure
  // queue and is counted, instead of passing silently as "already off" while the flag stays on.
  await services.projects.getEnvironment(actor, link.project, link.environment);
  for (let attempt = 1; ; attempt++) {
    const current = await services.flags.get(actor, link.project, link.flag);
    const state = current.definition.environments[link.environment];
    if (state?.enabled !== true) {
      return { kind: 'already-off', alarm: alarm.AlarmName, link };
    }
    try {
      const stored = await services.flags.toggle(actor, link.project, link.flag, link.environment, false, current.version);
      return { kind: 'rolled-back', alarm: alarm.AlarmName, link, version: stored.version };
    } catch (error) {
      // Someone edited the flag between our read and write: read again.
      if (!(error instanceof AppError && error.code === AppErrorCode.Conflict) || attempt >= MAX_CONFLICT_RETRIES) {
        throw error;
      }
    }
  }
}

export interface AlarmRollbackOptions {
  readonly services?: () => Promise<Services>;
  readonly readSecret?: SecretReader;
  readonly logger?: Logger;
  readonly metrics?: EmfMetrics;
}

export function createAlarmRollbackHandler(env: NodeJS.ProcessEnv, options: AlarmRollbackOptions = {}): (event: AlarmEvent) => Promise<RollbackOutcome[]> {
  const logger = options.logger ?? functionLogger();
  const metrics = options.metrics ?? new EmfMetrics({ service: 'alarm-rollback', stage: stageOf(env) });
  const services =
    options.services ??
    lazy(async () => createServices(await platformDeps(env, logger, options.readSecret), { limiter: LoginRateLimiter.inMemory() }));
  return async (event) => {
    const outcomes: RollbackOutcome[] = [];
    try {
      for (const alarm of notificationsOf(event)) {
        if ('ignored' in alarm) {
          // Not retried (it would fail the same way): logged as an error, so the log filter on
          // `$.level = "error"` shows an alarm wired to this function in a shape it cannot read.
          logger.error('not a CloudWatch alarm notification; ignored', { reason: alarm.ignored });
          outcomes.push({ kind: 'ignored', alarm: '', reason: alarm.ignored });
          continue;
        }
        // A failure throws: Lambda retries the asynchronous invocation, and the toggle is idempotent.
        const outcome = await rollBack(await services(), alarm);
        logger[outcome.kind === 'ignored' ? 'info' : 'warn']('guardrail alarm', { ...outcome, reason: alarm.NewStateReason });
        if (outcome.kind === 'rolled-back') {
          metrics.put(MetricName.Rollbacks, 1);
        }
        outcomes.push(outcome);
      }
      return outcomes;
    } finally {
      metrics.flush();
    }
  };
}

export const handler = createAlarmRollbackHandler(process.env);
