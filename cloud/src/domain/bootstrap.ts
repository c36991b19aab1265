import type { ExperimentInput, FlagInput, Metric, MetricInput } from '@xp/shared';
import { experimentSchema, flagSchema, metricSchema } from '@xp/shared';
import { hashPassword, validatePasswordStrength } from '../auth/passwords.js';
import type { ScryptParams } from '../auth/passwords.js';
import { TokenKind, generateToken, hashToken, tokenPrefix } from '../auth/tokens.js';
import { AppError, AppErrorCode } from '../errors.js';
import { credentials } from '../store/credentials.js';
import { DefinitionKind, DefinitionRepository } from '../store/definitions.js';
import { environments, projects } from '../store/projects.js';
import { users } from '../store/users.js';
import { record } from './audit-trail.js';
import type { Actor, Deps } from './context.js';
import { DEFAULT_ENVIRONMENTS } from './projects.js';
import { experimentsRepo, flagsRepo, flushRulesets, stageRulesets } from './publisher.js';

export interface BootstrapOptions {
  readonly adminEmail?: string | undefined;
  readonly adminPassword?: string | undefined;
  readonly scrypt?: ScryptParams;
  /**
   * The owner must replace the password at the first login (as for an invitation's). For a password
   * others can read — AWS's, kept in Secrets Manager — so it stops working once the owner signs in.
   * Default false: a local start's password is the operator's own.
   */
  readonly passwordChangeRequired?: boolean;
}

export interface BootstrapResult {
  readonly created: boolean;
  readonly adminEmail?: string;
  /** Present only when the password was generated (shown once). */
  readonly generatedPassword?: string;
  readonly projectKey?: string;
  /** environment → { server, client } keys, shown once. */
  readonly sdkKeys?: Record<string, { server: string; client: string }>;
}


const DEMO_FLAGS: FlagInput[] = [
  {
    key: 'new-checkout',
    name: 'New checkout',
    description: 'The redesigned checkout, rolled out gradually.',
    type: 'boolean',
    variations: [
      { key: 'off', value: false },
      { key: 'on', value: true },
    ],
    environments: {
      development: { enabled: true, defaultVariation: 'on', offVariation: 'off' },
      staging: { enabled: true, defaultVariation: 'off', offVariation: 'off', rules: [{ id: 'half', type: 'rollout', variation: 'on', coverage: 0.5 }] },
      production: {
        enabled: false,
        defaultVariation: 'off',
        offVariation: 'off',
        rules: [
          { id: 'staff', type: 'force', variation: 'on', condition: { email: { $regex: '@example\\.com$' } } },
          { id: 'ramp', type: 'rollout', variation: 'on', coverage: 0.1 },
        ],
      },
    },
  },
  {
    key: 'button-color',
    name: 'Button colour',
    type: 'string',
    variations: [
      { key: 'blue', value: 'blue' },
      { key: 'green', value: 'green' },
    ],
    environments: {
      development: { enabled: true, defaultVariation: 'green', offVariation: 'blue' },
      production: { enabled: true, defaultVariation: 'blue', offVariation: 'blue', rules: [{ id: 'us', type: 'force', variation: 'green', condition: { country: 'US' } }] },
    },
  },
];

/** Event names the demo metrics count; the demo traffic simulator sends them. */
export const DemoEvent = {
  /** A completed purchase, with its amount in `properties.amount`. */
  Purchase: 'demo_purchase',
  /** A client-side error the user hit. */
  Error: 'demo_error',
} as const;

const DEMO_METRICS: MetricInput[] = [
  { key: 'demo-purchase', name: 'Purchase rate', description: 'Share of users who bought at least once.', type: 'conversion', event: DemoEvent.Purchase },
  { key: 'demo-revenue', name: 'Revenue per user', type: 'sum', event: DemoEvent.Purchase, property: 'amount' },
  {
    key: 'demo-errors',
    name: 'Errors per user',
    description: 'Guardrail: client errors; lower is better.',
    type: 'count',
    event: DemoEvent.Error,
    higherIsBetter: false,
    guardrail: true,
  },
];

/** The environment the demo experiments run in (the simulator uses its server SDK key). */
export const DEMO_ENVIRONMENT = 'development';

/** The three demo experiments; the traffic simulator knows how each should behave. */
export const DemoExperiment = {
  /** The treatment converts clearly better. */
  Winner: 'demo-checkout-cta',
  /** No difference between the arms. */
  Null: 'demo-search-ranking',
  /** The simulator drops some treatment exposures: a sample-ratio mismatch. */
  SampleRatioMismatch: 'demo-onboarding-tour',
} as const;

const demoExperiment = (key: string, name: string, hypothesis: string): ExperimentInput => ({
  key,
  name,
  hypothesis,
  status: 'running',
  environments: [DEMO_ENVIRONMENT],
  variations: [
    { key: 'control', name: 'Control' },
    { key: 'treatment', name: 'Treatment' },
  ],
  metrics: { primary: ['demo-purchase'], secondary: ['demo-revenue'], guardrails: ['demo-errors'] },
  // The simulator sends both with every exposure: the results can be broken down by them.
  dimensions: ['country', 'platform'],
  tags: ['demo'],
});

const DEMO_EXPERIMENTS: ExperimentInput[] = [
  demoExperiment(DemoExperiment.Winner, 'Checkout call to action', 'A clearer "Buy now" button makes more visitors buy.'),
  demoExperiment(DemoExperiment.Null, 'Search ranking', 'The new ranking changes nothing measurable (an A/A-like test).'),
  demoExperiment(DemoExperiment.SampleRatioMismatch, 'Onboarding tour', 'Shows a sample-ratio mismatch: some treatment exposures are lost.'),
];

const metricsRepo = new DefinitionRepository<Metric>(DefinitionKind.Metric);

/**
 * First start: an organisation, its owner, and a demo project with environments, SDK keys, flags,
 * metrics and three running experiments. Does nothing when an organisation exists, so restarts keep all data.
 */
/** The advisory lock (one-key space, 'xpbs') that serialises first starts on one database. */
const BOOTSTRAP_LOCK = 0x78706273;

export async function bootstrap(deps: Deps, options: BootstrapOptions): Promise<BootstrapResult> {
  const existing = await deps.db.query<{ n: number }>('SELECT count(*)::int AS n FROM organizations');
  if ((existing.rows[0]?.n ?? 0) > 0) {
    return { created: false };
  }
  const email = options.adminEmail ?? 'admin@localhost';
  const generated = options.adminPassword === undefined ? generateToken(TokenKind.Session).slice(4, 28) : undefined;
  const password = options.adminPassword ?? generated!;
  if (generated === undefined) {
    const problems = validatePasswordStrength(password, { email, name: 'Owner' });
    if (problems.length > 0) {
      throw new AppError(AppErrorCode.Validation, `XP_ADMIN_PASSWORD is too weak: ${problems.map((p) => p.message).join('; ')}`);
    }
  }
  const passwordHash = options.scrypt === undefined ? await hashPassword(password) : await hashPassword(password, options.scrypt);
  const orgId = deps.newId();
  const projectId = deps.newId();
  const sdkKeys: Record<string, { server: string; client: string }> = {};
  const staged = await deps.db.withTransaction(async (tx) => {
    // Two processes making their first start on one database at once (replicas rolled out together):
    // one bootstraps, the other waits here, then finds the organisation and starts as a later start.
    await tx.query('SELECT pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK]);
    const raced = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM organizations');
    if ((raced.rows[0]?.n ?? 0) > 0) {
      return undefined;
    }
    await tx.query('INSERT INTO organizations (id, name) VALUES ($1, $2)', [orgId, 'My organisation']);
    // Locally not flagged password_change_required (unlike an invitation's): the operator chose this
    // password (XP_ADMIN_PASSWORD) or received it alone, on their own machine (printed once and saved to
    // initial-credentials.txt), so nobody else holds it. They change it with PUT /api/v1/me/password.
    // On AWS it is flagged: whoever may read the secret holds it too.
    const owner = await users.create(tx, { id: deps.newId(), orgId, email, name: 'Owner', role: 'owner', passwordHash, passwordChangeRequired: options.passwordChangeRequired === true });
    const actor: Actor = { userId: owner.id, orgId, email, role: 'owner', client: 'bootstrap', credential: { kind: 'system', id: 'bootstrap' } };
    await projects.create(tx, { id: projectId, orgId, key: 'demo', name: 'Demo project', description: 'Created on first start.' });
    for (const env of DEFAULT_ENVIRONMENTS) {
      await environments.create(tx, projectId, env, owner.id);
      const pair = { server: generateToken(TokenKind.ServerSdkKey), client: generateToken(TokenKind.ClientSdkKey) };
      for (const kind of ['server', 'client'] as const) {
        await credentials.createSdkKey(tx, {
          id: deps.newId(),
          projectId,
          environment: env.key,
          kind,
          name: `${env.name} ${kind}`,
          keyHash: hashToken(pair[kind]),
          prefix: tokenPrefix(pair[kind]),
          createdBy: owner.id,
        });
      }
      sdkKeys[env.key] = pair;
    }
    for (const input of DEMO_FLAGS) {
      const flag = flagSchema.parse(input);
      await flagsRepo.create(tx, projectId, flag, owner.id);
      await record(tx, actor, { projectId, action: 'flag.created', resourceType: 'flag', resourceKey: flag.key, before: undefined, after: flag });
    }
    for (const input of DEMO_METRICS) {
      const metric = metricSchema.parse(input);
      await metricsRepo.create(tx, projectId, metric, owner.id);
      await record(tx, actor, { projectId, action: 'metric.created', resourceType: 'metric', resourceKey: metric.key, before: undefined, after: metric });
    }
    for (const input of DEMO_EXPERIMENTS) {
      const experiment = experimentSchema.parse({ ...input, startedAt: deps.now().toISOString() });
      await experimentsRepo.create(tx, projectId, experiment, owner.id);
      await record(tx, actor, { projectId, action: 'experiment.created', resourceType: 'experiment', resourceKey: experiment.key, before: undefined, after: experiment });
    }
    await record(tx, actor, { projectId, action: 'organization.bootstrapped', resourceType: 'organization', resourceKey: orgId, before: undefined, after: { owner: email, project: 'demo' } });
    return stageRulesets(tx, projectId, deps.now());
  });
  if (staged === undefined) {
    return { created: false };
  }
  await flushRulesets(deps, staged);
  return { created: true, adminEmail: email, ...(generated === undefined ? {} : { generatedPassword: generated }), projectKey: 'demo', sdkKeys };
}
