/**
 * What the functions that act on the platform's definitions need (the API, the alarm rollback, the
 * guardrail check): PostgreSQL, the DynamoDB ruleset projection to publish to, a clock, ids, a logger.
 */
import { randomUUID } from 'node:crypto';
import type { Deps, Logger } from '../domain/context.js';
import { createDynamoClient, createDynamoRulesetStore } from '../store/ruleset-store.js';
import { EnvVar, connectDatabase, optional, required } from './runtime.js';
import type { SecretReader } from './runtime.js';

export async function platformDeps(env: NodeJS.ProcessEnv, logger: Logger, readSecret?: SecretReader): Promise<Deps> {
  return {
    db: await connectDatabase(env, readSecret),
    rulesets: createDynamoRulesetStore({ client: createDynamoClient(optional(env, EnvVar.DynamodbEndpoint)), tableName: required(env, EnvVar.RulesetTable) }),
    now: () => new Date(),
    newId: () => randomUUID(),
    logger,
  };
}
