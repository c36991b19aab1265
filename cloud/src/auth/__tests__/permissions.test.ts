import { ROLE_RANK, Role } from '@xp/shared';
import { describe, expect, it } from 'vitest';
import { AppError, AppErrorCode } from '../../errors.js';
import {
  PERMISSION_DESCRIPTIONS,
  PERMISSION_MATRIX,
  Permission,
  ROLES,
  assertCan,
  can,
  canAssignRole,
  canReview,
  needsApproval,
  permissionsOf,
} from '../permissions.js';
import { permissionTableMarkdown } from '../permissions-doc.js';

const PERMISSIONS = Object.values(Permission);
const byRankDescending = [...ROLES].sort((a, b) => ROLE_RANK[b] - ROLE_RANK[a]);

describe('PERMISSION_MATRIX', () => {
  it('covers every permission, with known roles and no duplicates', () => {
    expect(Object.keys(PERMISSION_MATRIX).sort()).toEqual([...PERMISSIONS].sort());
    for (const roles of Object.values(PERMISSION_MATRIX)) {
      expect(new Set(roles).size).toBe(roles.length);
      expect(roles.every((role) => ROLES.includes(role))).toBe(true);
    }
  });

  it('lists every role once, most privileged first', () => {
    expect(ROLES).toEqual(byRankDescending);
    expect(new Set(ROLES)).toEqual(new Set(Object.values(Role)));
  });

  it('grants every permission to the owner', () => {
    expect(PERMISSIONS.filter((p) => !can(Role.Owner, p))).toEqual([]);
  });

  it('is monotonic: a higher role holds every permission of a lower one, without exception', () => {
    const exceptions: string[] = [];
    for (const higher of ROLES) {
      for (const lower of ROLES.filter((r) => ROLE_RANK[r] < ROLE_RANK[higher])) {
        for (const permission of permissionsOf(lower)) {
          if (!can(higher, permission)) {
            exceptions.push(`${higher} lacks ${permission} held by ${lower}`);
          }
        }
      }
    }

    expect(exceptions).toEqual([]);
  });

  it('gives each role exactly its documented permissions', () => {
    const readOnly = [Permission.Read, Permission.AuditRead, Permission.OwnTokensManage];
    const editor = [
      ...readOnly,
      Permission.FlagsWrite,
      Permission.SegmentsWrite,
      Permission.ExperimentsWrite,
      Permission.MetricsWrite,
      Permission.HoldoutsWrite,
      Permission.ChangeRequestsPropose,
      Permission.ChangeRequestsApply,
      Permission.CodeRefsWrite,
    ];
    const admin = [
      ...editor,
      Permission.EnvironmentsManage,
      Permission.SdkKeysManage,
      Permission.UsersManage,
      Permission.ProjectsManage,
      Permission.ChangeRequestsApprove,
      Permission.ChangeRequestsReject,
      Permission.WebhooksManage,
      Permission.UnitsErase,
    ];

    expect(new Set(permissionsOf(Role.Viewer))).toEqual(new Set(readOnly));
    expect(new Set(permissionsOf(Role.Analyst))).toEqual(new Set([...readOnly, Permission.MetricsWrite]));
    expect(new Set(permissionsOf(Role.Editor))).toEqual(new Set(editor));
    expect(new Set(permissionsOf(Role.Admin))).toEqual(new Set(admin));
    expect(new Set(permissionsOf(Role.Owner))).toEqual(new Set([...admin, Permission.OrgSettingsManage]));
  });

  it('lets a viewer only read (and hold its own read tokens)', () => {
    const writes = PERMISSIONS.filter((p) => p !== Permission.Read && p !== Permission.AuditRead && p !== Permission.OwnTokensManage);

    expect(writes.filter((p) => can(Role.Viewer, p))).toEqual([]);
    expect(can(Role.Viewer, Permission.Read)).toBe(true);
    expect(can(Role.Viewer, Permission.AuditRead)).toBe(true);
  });

  it('keeps organisation settings to owners alone', () => {
    expect(PERMISSION_MATRIX[Permission.OrgSettingsManage]).toEqual([Role.Owner]);
  });

  it('has a description for every permission', () => {
    expect(PERMISSIONS.filter((p) => PERMISSION_DESCRIPTIONS[p].length === 0)).toEqual([]);
  });
});

describe('assertCan', () => {
  it('passes when the role holds the permission', () => {
    expect(() => {
      assertCan({ role: Role.Analyst }, Permission.MetricsWrite);
    }).not.toThrow();
  });

  it('throws AppError Forbidden (403) when it does not', () => {
    let caught: unknown;
    try {
      assertCan({ role: Role.Analyst }, Permission.FlagsWrite);
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(AppError);
    expect((caught as AppError).code).toBe(AppErrorCode.Forbidden);
    expect((caught as AppError).status).toBe(403);
    expect((caught as AppError).details).toEqual({ permission: Permission.FlagsWrite });
  });
});

describe('needsApproval', () => {
  const open = { production: false, requireApproval: false };
  const production = { production: true, requireApproval: false };
  const requiresApproval = { production: false, requireApproval: true };

  it.each([
    [Role.Editor, open, false],
    [Role.Editor, production, true],
    [Role.Editor, requiresApproval, true],
    [Role.Editor, { production: true, requireApproval: true }, true],
    [Role.Analyst, production, true],
    [Role.Admin, production, false],
    [Role.Admin, requiresApproval, false],
    [Role.Owner, production, false],
    [Role.Owner, open, false],
  ])('%s in %o → %s', (role, environment, expected) => {
    expect(needsApproval(role, environment)).toBe(expected);
  });
});

describe('canReview', () => {
  it.each([
    [Role.Owner, 'u2', true],
    [Role.Admin, 'u2', true],
    [Role.Admin, 'u1', false],
    [Role.Owner, 'u1', false],
    [Role.Editor, 'u2', false],
    [Role.Analyst, 'u2', false],
    [Role.Viewer, 'u2', false],
  ])('a %s reviewing a request by %s → %s', (role, proposerId, expected) => {
    expect(canReview({ id: 'u1', role }, proposerId)).toBe(expected);
  });
});

describe('canAssignRole', () => {
  it('lets owners assign any role to anyone, including granting and revoking owner', () => {
    for (const from of [undefined, ...ROLES]) {
      for (const to of ROLES) {
        expect(canAssignRole(Role.Owner, from, to)).toBe(true);
      }
    }
  });

  it('lets admins assign roles up to admin to non-owners', () => {
    const allowed: string[] = [];
    for (const from of [undefined, ...ROLES]) {
      for (const to of ROLES) {
        if (canAssignRole(Role.Admin, from, to)) {
          allowed.push(`${from ?? 'invite'}→${to}`);
        }
      }
    }

    const belowOwner = [Role.Admin, Role.Editor, Role.Analyst, Role.Viewer];
    expect(allowed.sort()).toEqual(['invite', ...belowOwner].flatMap((from) => belowOwner.map((to) => `${from}→${to}`)).sort());
  });

  it('never lets an admin grant or revoke owner', () => {
    expect(canAssignRole(Role.Admin, Role.Editor, Role.Owner)).toBe(false);
    expect(canAssignRole(Role.Admin, undefined, Role.Owner)).toBe(false);
    expect(canAssignRole(Role.Admin, Role.Owner, Role.Admin)).toBe(false);
    expect(canAssignRole(Role.Admin, Role.Owner, Role.Owner)).toBe(false);
  });

  it.each([Role.Editor, Role.Analyst, Role.Viewer])('lets a %s assign no role at all', (actor) => {
    for (const from of [undefined, ...ROLES]) {
      for (const to of ROLES) {
        expect(canAssignRole(actor, from, to)).toBe(false);
      }
    }
  });
});

describe('permissionTableMarkdown', () => {
  it('has a header, a separator and one row per permission matching the matrix', () => {
    const lines = permissionTableMarkdown().trimEnd().split('\n');

    expect(lines[0]).toBe('| Permission | Description | Owner | Admin | Editor | Analyst | Viewer |');
    expect(lines[1]).toBe('| --- | --- | :---: | :---: | :---: | :---: | :---: |');
    expect(lines).toHaveLength(2 + PERMISSIONS.length);
    for (const [i, permission] of PERMISSIONS.entries()) {
      const cells = lines[i + 2]!.split('|').slice(1, -1).map((c) => c.trim());
      expect(cells[0]).toBe(`\`${permission}\``);
      expect(cells.slice(2)).toEqual(ROLES.map((role) => (can(role, permission) ? '✓' : '–')));
    }
  });
});
