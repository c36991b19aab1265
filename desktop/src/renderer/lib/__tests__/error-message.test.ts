import { describe, expect, it } from 'vitest';
import { ApiError } from '@xp/shared';
import { errorMessage, isConflict } from '../ui.js';

describe('errorMessage', () => {
  it('words a lost save as a conflict to reload, and lets every other 409 say why itself', () => {
    const lost = new ApiError(409, 'VERSION_CONFLICT', 'expected version 3, current is 5');
    const taken = new ApiError(409, 'ALREADY_EXISTS', 'flag "beta" already exists');
    const refused = new ApiError(409, 'INVALID_STATE', '"visitor" has more than 100 values in this experiment, too many to break down');

    expect([isConflict(lost), isConflict(taken), isConflict(refused)]).toEqual([true, false, false]);
    expect(errorMessage(lost)).toMatch(/^Someone else changed this since you opened it \(expected version 3/);
    expect(errorMessage(taken)).toBe('flag "beta" already exists');
    expect(errorMessage(refused)).toBe('"visitor" has more than 100 values in this experiment, too many to break down');
  });
});
