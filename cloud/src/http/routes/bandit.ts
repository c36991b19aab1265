import { z } from 'zod';
import { banditSchema } from '@xp/shared';
import { Permission } from '../../auth/permissions.js';
import { BANDIT_KEEP_REASONS, BanditUpdater, MAX_BANDIT_UPDATES_LISTED, banditFor } from '../../domain/bandit.js';
import type { Services } from '../../domain/services.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { projectKeyParams } from './common.js';

const sharesSchema = z.record(z.string(), z.number());

const banditUpdateSchema = z
  .object({
    at: z.string(),
    outcome: z.enum(['moved', 'kept']).describe('moved: the split moved to `shares`; kept: it stayed as it was (`reason` says why)'),
    reason: z
      .enum(BANDIT_KEEP_REASONS)
      .nullable()
      .describe(
        'Why the split was kept (null when it moved): insufficient_units (a variation has fewer than 100 units), no_chance_to_be_best (the results gave none: an SRM, a stats error), ' +
          'no_change (the new shares are within 0.005 of the current ones), split_history_full (the split moved 100 times already), conflict (a concurrent edit: retried at the next run), failed (see message)',
      ),
    metric: z.string().describe('The bandit metric the check read'),
    environment: z.string().describe('The environment whose results the check read'),
    shares: sharesSchema.describe('The split after the check, by variation key (the one before when kept)'),
    previousShares: sharesSchema.describe('The split before the check'),
    chanceToBeBest: sharesSchema.nullable().describe("Each variation's chance to be best on the bandit metric; null when the results gave none or were not read"),
    units: z.record(z.string(), z.number().int()).describe('Units analysed per variation'),
    message: z.string(),
  })
  .meta({ id: 'BanditUpdate' });

const banditViewSchema = z
  .object({
    experiment: z.string(),
    bandit: banditSchema.nullable().describe('The experiment\'s bandit with its defaults; null when it has none'),
    metric: z.string().nullable().describe('The metric the bandit optimises: bandit.metric, else the first primary metric'),
    environment: z.string().nullable().describe('The environment whose results the bandit reads (the results\' default)'),
    nextUpdateAt: z.string().nullable().describe('When the next check is due (a past instant: at the next run, within a minute); null when the experiment is not running or has no bandit'),
    updates: z.array(banditUpdateSchema).describe(`The latest checks, newest first (at most ${String(MAX_BANDIT_UPDATES_LISTED)})`),
  })
  .meta({ id: 'BanditState' });

/** The bandit of an experiment: its checks, and one now. */
export function banditRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/experiments/{key}/bandit',
      permission: Permission.Read,
      tag: 'Experiments',
      summary: "A bandit experiment's configuration, next check and latest checks",
      description:
        'The bandit with its defaults, the metric it optimises and the environment it reads, when its next check is due, and its latest checks (moved or kept, and why), newest first. ' +
        'An experiment without a bandit answers 200 with `bandit` null and no checks. See docs/bandits.md.',
      params: projectKeyParams,
      responses: { 200: { description: 'The bandit and its checks', schema: banditViewSchema } },
      handler: async (req) => ({ status: 200, body: await banditFor(s.deps, req.actor, req.params.project, req.params.key) }),
    }),
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/experiments/{key}/bandit/update',
      permission: Permission.ExperimentsWrite,
      tag: 'Experiments',
      summary: "Check a running bandit experiment now, whatever its cadence and burn-in, and move its split if the check says so",
      description:
        'Reads the chance to be best of each variation on the bandit metric and moves the split as a scheduled check would (recorded the same way; the audit log names the caller). ' +
        'The check is returned whether it moved the split or kept it. An experiment that is not running, or has no bandit, is 409 INVALID_STATE.',
      params: projectKeyParams,
      responses: { 200: { description: 'The check, as recorded', schema: banditUpdateSchema } },
      handler: async (req) => ({ status: 200, body: await new BanditUpdater(s.deps).updateNow(req.actor, req.params.project, req.params.key) }),
    }),
  ];
}
