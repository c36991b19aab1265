import { ApiError } from '@xp/shared';

/**
 * What still uses a segment, read from the API's refusal to delete it: 400 with every use as
 * `details.problems` ("flags.search-v2.environments.development.rules[0].segments: uses segment
 * "beta""). Older servers compiled each environment's ruleset without the segment and listed the
 * broken references of the first environment that failed, named in the message.
 */
export type SegmentUser =
  | { readonly kind: 'flag'; readonly key: string; readonly environment: string; readonly rules: readonly number[] }
  | { readonly kind: 'experiment' | 'segment'; readonly key: string }
  /** A problem of another shape, shown as the API wrote it. */
  | { readonly kind: 'other'; readonly text: string };

export interface SegmentInUse {
  /** Older servers: the environment whose ruleset the deletion would break (the first one checked that fails). */
  readonly environment: string | null;
  readonly users: readonly SegmentUser[];
}

const FLAG_RULE = /^flags\.(.+?)\.environments\.(.+)\.rules\[(\d+)\](?:\.[A-Za-z]+)?$/;
const EXPERIMENT = /^experiments\.(.+)\.(?:segments|excludeSegments|condition)$/;
const SEGMENT = /^segments\.(.+)\.condition$/;

/** The flags, experiments and segments a refused deletion names, in the order named; null when the error is not such a refusal. */
export function segmentInUse(error: unknown): SegmentInUse | null {
  if (!(error instanceof ApiError) || error.status !== 400) {
    return null;
  }
  const problems = (error.details as { problems?: unknown } | undefined)?.problems;
  if (!Array.isArray(problems) || problems.length === 0 || !problems.every((p) => typeof p === 'string')) {
    return null;
  }
  const users: SegmentUser[] = [];
  const flags = new Map<string, { readonly kind: 'flag'; readonly key: string; readonly environment: string; readonly rules: number[] }>();
  const seen = new Set<string>();
  for (const problem of problems) {
    const colon = problem.indexOf(': ');
    const path = colon < 0 ? problem : problem.slice(0, colon);
    const flag = FLAG_RULE.exec(path);
    const experiment = EXPERIMENT.exec(path);
    const segment = SEGMENT.exec(path);
    if (flag !== null) {
      const [, key = '', environment = '', index = '0'] = flag;
      const known = flags.get(`${key}\u0000${environment}`);
      const rule = Number(index) + 1;
      if (known === undefined) {
        const entry = { kind: 'flag' as const, key, environment, rules: [rule] };
        flags.set(`${key}\u0000${environment}`, entry);
        users.push(entry);
      } else if (!known.rules.includes(rule)) {
        known.rules.push(rule);
      }
    } else if (experiment !== null || segment !== null) {
      const kind = experiment === null ? 'segment' : 'experiment';
      const key = (experiment ?? segment)?.[1] ?? '';
      if (!seen.has(`${kind}:${key}`)) {
        seen.add(`${kind}:${key}`);
        users.push({ kind, key });
      }
    } else {
      users.push({ kind: 'other', text: problem });
    }
  }
  const environment = /environment "([^"]+)"/.exec(error.message)?.[1] ?? null;
  return { environment, users };
}
