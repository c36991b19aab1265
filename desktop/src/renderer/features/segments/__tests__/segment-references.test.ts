import { describe, expect, it } from 'vitest';
import { ApiError } from '@xp/shared';
import { segmentInUse } from '../segment-references.js';

function refusal(problems: unknown, environment = 'development'): ApiError {
  return new ApiError(400, 'VALIDATION_FAILED', `the change leaves environment "${environment}" with broken references`, { problems });
}

describe('segment references', () => {
  it('names the flags (with their rules), experiments and segments a refused deletion lists, once each', () => {
    expect(
      segmentInUse(
        refusal([
          'flags.search-v2.environments.development.rules[0].segments: unknown segment "beta"',
          'flags.search-v2.environments.development.rules[2].excludeSegments: unknown segment "beta"',
          'flags.checkout.v2.environments.development.rules[1].condition: unknown segment "beta" in $inGroup / $notInGroup',
          'experiments.pricing.segments: unknown segment "beta"',
          'experiments.pricing.excludeSegments: unknown segment "beta"',
          'segments.vip.condition: unknown segment "beta" in $inGroup / $notInGroup',
          'something else entirely',
        ]),
      ),
    ).toEqual({
      environment: 'development',
      users: [
        { kind: 'flag', key: 'search-v2', environment: 'development', rules: [1, 3] },
        { kind: 'flag', key: 'checkout.v2', environment: 'development', rules: [2] },
        { kind: 'experiment', key: 'pricing' },
        { kind: 'segment', key: 'vip' },
        { kind: 'other', text: 'something else entirely' },
      ],
    });
  });

  it('lists every use the API names, a flag once per environment, with no environment of its own', () => {
    const error = new ApiError(400, 'VALIDATION_FAILED', 'segment "beta" is still used (…); remove it from them first', {
      problems: [
        'flags.search-v2.environments.development.rules[0].segments: uses segment "beta"',
        'flags.search-v2.environments.production.rules[0].segments: uses segment "beta"',
        'experiments.draft-test.segments: uses segment "beta"',
      ],
    });

    expect(segmentInUse(error)).toEqual({
      environment: null,
      users: [
        { kind: 'flag', key: 'search-v2', environment: 'development', rules: [1] },
        { kind: 'flag', key: 'search-v2', environment: 'production', rules: [1] },
        { kind: 'experiment', key: 'draft-test' },
      ],
    });
  });

  it('leaves other errors alone', () => {
    expect(segmentInUse(new ApiError(409, 'VERSION_CONFLICT', 'expected version 3, current is 5'))).toBeNull();
    expect(segmentInUse(new ApiError(400, 'VALIDATION_FAILED', 'bad', { issues: [] }))).toBeNull();
    expect(segmentInUse(refusal([]))).toBeNull();
    expect(segmentInUse(new Error('boom'))).toBeNull();
  });
});
