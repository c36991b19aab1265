import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { EnvVar } from '../../functions/runtime.js';
import { DISPATCH_RESERVE_MS } from '../../functions/webhook-dispatch.js';
import { MAX_SEND_TIMEOUT_MS } from '../../functions/webhook-sender.js';
import { WEBHOOK_TIMEOUT_MS } from '../../domain/webhooks.js';
import { WEBHOOK_TIMINGS } from '../webhook-delivery.js';
import { policyStatements } from './iam-scan.js';
import { synthXp, templates } from './synth-helpers.js';
import type { Templates } from './synth-helpers.js';

type Resource = { Properties: Record<string, any> };
type Fn = { readonly stack: string; readonly id: string; readonly props: Record<string, any> };

const resources = (t: Template, type: string): [string, Resource][] => Object.entries(t.findResources(type)) as [string, Resource][];

/** Every xp function of the app, with its stack and logical id. */
function functions(t: Templates): Fn[] {
  return Object.entries(t).flatMap(([stack, tpl]) =>
    resources(tpl, 'AWS::Lambda::Function')
      .filter(([, r]) => String(r.Properties.Description).startsWith('xp '))
      .map(([id, r]) => ({ stack, id, props: r.Properties })),
  );
}

/** The one function whose description starts with `prefix`. */
function byDescription(fns: Fn[], prefix: string): Fn {
  const found = fns.filter((f) => String(f.props.Description).startsWith(prefix));
  if (found.length !== 1) {
    throw new Error(`${found.length} functions described "${prefix}…"`);
  }
  return found[0]!;
}

/** The role logical id of a function (its `Role` is `Fn::GetAtt [roleId, Arn]`). */
const roleOf = (fn: Fn): string => (fn.props.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];

/** The statements of the policies attached to a role of a stack. */
function statementsOf(t: Templates, stack: keyof Templates, roleId: string): { Action: string | string[]; Resource: unknown }[] {
  return resources(t[stack], 'AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
}

/** `<stack>/<role id>` for each role whose policy has a statement matching `match`. */
function rolesGranted(t: Templates, match: (statement: { Action: string | string[]; Resource: unknown }) => boolean): string[] {
  return Object.entries(t).flatMap(([stack, tpl]) =>
    resources(tpl, 'AWS::IAM::Policy')
      .filter(([, p]) => (p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]).some(match))
      .flatMap(([, p]) => (p.Properties.Roles as { Ref: string }[]).map((r) => `${stack}/${r.Ref}`)),
  );
}

const actions = (statements: { Action: string | string[] }[]): string[] => statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));

describe('webhook delivery on AWS (default configuration)', () => {
  let t: Templates;
  let fns: Fn[];
  let api: Fn;
  let sender: Fn;
  let dispatcher: Fn;
  let platformKeyId: string;

  beforeAll(() => {
    const built = synthXp();
    built.app.synth();
    t = templates(built.stacks);
    fns = functions(t);
    api = byDescription(fns, 'xp management API');
    sender = byDescription(fns, 'xp webhook sender');
    dispatcher = byDescription(fns, 'xp webhook dispatcher');
    const secrets = resources(t.data, 'AWS::SecretsManager::Secret').filter(([, r]) => r.Properties.Name === 'xp/dev/platform-key');
    if (secrets.length !== 1) {
      throw new Error(`${secrets.length} platform key secrets`);
    }
    platformKeyId = secrets[0]![0];
  }, 120_000);

  it('generates the platform key in Secrets Manager: 64 characters without punctuation, kept when the stack goes', () => {
    const secret = t.data.toJSON().Resources[platformKeyId] as { Properties: Record<string, any>; DeletionPolicy?: string };

    expect(secret.Properties.GenerateSecretString).toEqual({ PasswordLength: 64, ExcludePunctuation: true, IncludeSpace: false });
    expect(secret.DeletionPolicy).toBe('Retain');
  });

  it('binds the platform key to the API and the dispatcher only: their variable and their read grant', () => {
    const refersToKey = (value: unknown): boolean => JSON.stringify(value).includes(`ExportsOutputRef${platformKeyId}`);
    const withVariable = fns.filter((f) => f.props.Environment?.Variables?.[EnvVar.PlatformKeySecretArn] !== undefined);
    const grants = policyStatements(t).filter((s) => refersToKey(s.resources));
    const roles = rolesGranted(t, (s) => refersToKey(s.Resource));

    expect(withVariable.map((f) => f.id).sort()).toEqual([api.id, dispatcher.id].sort());
    expect(withVariable.every((f) => refersToKey(f.props.Environment.Variables[EnvVar.PlatformKeySecretArn]))).toBe(true);
    expect(roles.sort()).toEqual([`api/${roleOf(api)}`, `api/${roleOf(dispatcher)}`].sort());
    expect(grants.map((g) => g.actions)).toEqual([['secretsmanager:GetSecretValue'], ['secretsmanager:GetSecretValue']]);
  });

  it('runs the sender outside the VPC with nothing but its own logs and traces, 15 s, small', () => {
    const granted = actions(statementsOf(t, 'api', roleOf(sender)));

    expect(sender.props.VpcConfig).toBeUndefined();
    expect(sender.props).toMatchObject({ Timeout: WEBHOOK_TIMINGS.senderTimeoutSeconds, MemorySize: 256 });
    expect(granted.sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    expect(Object.keys(sender.props.Environment.Variables).sort()).toEqual(['NODE_OPTIONS', EnvVar.Stage].sort());
    // A send (receiver timeout) always finishes within the function's own timeout.
    expect(WEBHOOK_TIMEOUT_MS).toBeLessThanOrEqual(MAX_SEND_TIMEOUT_MS);
    expect(MAX_SEND_TIMEOUT_MS).toBeLessThan(WEBHOOK_TIMINGS.senderTimeoutSeconds * 1000);
  });

  it('runs the dispatcher in the VPC with the database, naming the sender, and lets it invoke only the sender', () => {
    const statements = statementsOf(t, 'api', roleOf(dispatcher));
    const invoke = statements.filter((s) => actions([s]).some((a) => a.startsWith('lambda:')));

    expect(dispatcher.props.VpcConfig.SubnetIds).toHaveLength(2);
    expect(dispatcher.props.Environment.Variables).toMatchObject({
      [EnvVar.WebhookSenderFunction]: { Ref: sender.id },
      [EnvVar.DbSecretArn]: expect.anything(),
      [EnvVar.RulesetTable]: expect.anything(),
    });
    expect(invoke).toEqual([{ Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [sender.id, 'Arn'] } }]);
    // It never touches the rulesets (the variable only satisfies the shared dependencies).
    expect(actions(statements).filter((a) => a.startsWith('dynamodb:') || a.startsWith('kinesis:'))).toEqual([]);
  });

  it('lets no role but the API and the dispatcher invoke the sender, and no function invoke anything else', () => {
    const senderArn = JSON.stringify({ 'Fn::GetAtt': [sender.id, 'Arn'] });
    const invokesSender = rolesGranted(t, (s) => actions([s]).includes('lambda:InvokeFunction') && JSON.stringify(s.Resource).includes(senderArn));
    // CDK's custom-resource provider invokes the migrations function; nothing else invokes anything.
    const otherInvokes = policyStatements(t).filter((s) => s.actions.some((a) => a.startsWith('lambda:Invoke')) && !JSON.stringify(s.resources).includes(senderArn) && !s.where.includes('MigrationsProvider'));

    expect(invokesSender.sort()).toEqual([`api/${roleOf(api)}`, `api/${roleOf(dispatcher)}`].sort());
    expect(otherInvokes).toEqual([]);
    expect(api.props.Environment.Variables[EnvVar.WebhookSenderFunction]).toEqual({ Ref: sender.id });
  });

  it('starts the dispatcher every minute, without retries or stale ticks, and keeps one polling past the next start', () => {
    const rules = resources(t.api, 'AWS::Events::Rule').map(([, r]) => r.Properties).filter((p) => JSON.stringify(p.Targets).includes(dispatcher.id));
    const [config] = resources(t.api, 'AWS::Lambda::EventInvokeConfig').map(([, r]) => r.Properties);
    const pollsMs = dispatcher.props.Timeout * 1000 - DISPATCH_RESERVE_MS;

    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatchObject({ ScheduleExpression: 'rate(1 minute)', Targets: [{ Arn: { 'Fn::GetAtt': [dispatcher.id, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } }] });
    expect(config).toMatchObject({ FunctionName: { Ref: dispatcher.id }, MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 });
    // Polling outlasts the minute between starts (no gap), and the last pass fits in the reserve.
    expect(pollsMs).toBeGreaterThan(60_000);
    expect(DISPATCH_RESERVE_MS).toBeGreaterThanOrEqual(3 * WEBHOOK_TIMEOUT_MS);
    // No reserved concurrency: consecutive invocations overlap by design.
    expect(dispatcher.props.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('gives the VPC a Lambda interface endpoint with private DNS, so the dispatcher reaches the Lambda API', () => {
    const endpoints = resources(t.network, 'AWS::EC2::VPCEndpoint').map(([, r]) => r.Properties).filter((p) => String(p.ServiceName).endsWith('.lambda'));

    expect(endpoints).toHaveLength(1);
    expect(endpoints[0]).toMatchObject({ VpcEndpointType: 'Interface', PrivateDnsEnabled: true });
    expect(endpoints[0]!.SubnetIds).toHaveLength(2);
  });

  it('alarms on both functions\' error rates and forwards their error lines; the dispatcher\'s lines go to the services log', () => {
    const alarms = resources(t.observability, 'AWS::CloudWatch::Alarm').map(([, r]) => String(r.Properties.AlarmDescription));
    const filters = resources(t.observability, 'AWS::Logs::SubscriptionFilter').map(([, r]) => String(r.Properties.FilterName));

    expect(alarms.filter((a) => a.includes('webhook-'))).toEqual([
      expect.stringContaining('webhook-dispatch invocations failed'),
      expect.stringContaining('webhook-sender invocations failed'),
      expect.stringContaining('webhook-dispatch invocations were throttled'),
      expect.stringContaining('webhook-sender invocations were throttled'),
    ]);
    expect(filters.filter((f) => f.includes('webhook-')).sort()).toEqual(['xp-errors-webhook-dispatch', 'xp-errors-webhook-sender', 'xp-services-webhook-dispatch']);
  });
});
