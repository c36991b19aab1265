import { z } from 'zod';

/** Roles in an organisation, from most to least privileged. */
export const Role = {
  /** Everything, including billing-level settings and transferring ownership. */
  Owner: 'owner',
  /** Manages users, roles, environments and keys, and everything an editor can. */
  Admin: 'admin',
  /** Creates and changes flags, experiments, segments and metrics. */
  Editor: 'editor',
  /** Reads everything and manages metrics and analyses; cannot change flags. */
  Analyst: 'analyst',
  /** Reads everything. */
  Viewer: 'viewer',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

export const roleSchema = z.enum([Role.Owner, Role.Admin, Role.Editor, Role.Analyst, Role.Viewer]);

/** Rank of each role: a higher rank includes every permission of a lower one. */
export const ROLE_RANK: Readonly<Record<Role, number>> = { owner: 4, admin: 3, editor: 2, analyst: 1, viewer: 0 };
