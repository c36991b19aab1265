import type { LoginRateLimiter } from '../auth/rate-limit.js';
import type { ScryptParams } from '../auth/passwords.js';
import { AccountService } from './accounts.js';
import { AuditService } from './audit-log.js';
import { ChangeRequestService } from './change-requests.js';
import type { Deps } from './context.js';
import { DefinitionService, ExperimentService, FlagService } from './definitions.js';
import { ProjectService } from './projects.js';
import { UnitService } from './units.js';
import { WebhookService } from './webhooks.js';

/** Every service the HTTP layer, the CLI and the local stack call. */
export interface Services {
  readonly deps: Deps;
  readonly accounts: AccountService;
  readonly projects: ProjectService;
  readonly flags: FlagService;
  readonly segments: DefinitionService<'segment'>;
  readonly metrics: DefinitionService<'metric'>;
  readonly holdouts: DefinitionService<'holdout'>;
  readonly experiments: ExperimentService;
  readonly changeRequests: ChangeRequestService;
  readonly audit: AuditService;
  readonly webhooks: WebhookService;
  readonly units: UnitService;
}

export function createServices(deps: Deps, options: { limiter: LoginRateLimiter; scrypt?: ScryptParams }): Services {
  return {
    deps,
    accounts: new AccountService(deps, options),
    projects: new ProjectService(deps),
    flags: new FlagService(deps),
    segments: new DefinitionService(deps, 'segment'),
    metrics: new DefinitionService(deps, 'metric'),
    holdouts: new DefinitionService(deps, 'holdout'),
    experiments: new ExperimentService(deps, deps.now),
    changeRequests: new ChangeRequestService(deps),
    audit: new AuditService(deps),
    webhooks: new WebhookService(deps),
    units: new UnitService(deps),
  };
}
