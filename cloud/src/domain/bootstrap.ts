import type { FlagInput } from '@xp/shared';
import { flagSchema } from '@xp/shared';
import { hashPassword, validatePasswordStrength } from '../auth/passwords.js';
import type { ScryptParams } from '../auth/passwords.js';
import { TokenKind, generateToken, hashToken, tokenPrefix } from '../auth/tokens.js';
import { AppError, AppErrorCode } from '../errors.js';
import { credentials } from '../store/credentials.js';
import { environments, projects } from '../store/projects.js';
import { users } from '../store/users.js';
import { record } from './audit-trail.js';
import type { Actor, Deps } from './context.js';
import { DEFAULT_ENVIRONMENTS } from './projects.js';
import { flagsRepo, flushRulesets, stageRulesets } from './publisher.js';

export interface BootstrapOptions {
  readonly adminEmail?: string | undefined;
  readonly adminPassword?: string | undefined;
  readonly scrypt?: ScryptParams;
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

/**
 * First start: an organisation, its owner, and a demo project with environments, SDK keys and
 * flags. Does nothing when an organisation exists, so restarts keep all data.
 */
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
    await tx.query('INSERT INTO organizations (id, name) VALUES ($1, $2)', [orgId, 'My organisation']);
    const owner = await users.create(tx, { id: deps.newId(), orgId, email, name: 'Owner', role: 'owner', passwordHash });
    const actor: Actor = { userId: owner.id, orgId, email, role: 'owner', client: 'bootstrap' };
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
    await record(tx, actor, { projectId, action: 'organization.bootstrapped', resourceType: 'organization', resourceKey: orgId, before: undefined, after: { owner: email, project: 'demo' } });
    return stageRulesets(tx, projectId, deps.now());
  });
  await flushRulesets(deps, staged);
  return { created: true, adminEmail: email, ...(generated === undefined ? {} : { generatedPassword: generated }), projectKey: 'demo', sdkKeys };
}
