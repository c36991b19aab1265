import { z } from 'zod';
import { keySchema, nameSchema } from './common.js';

/** A deployment stage (development, staging, production) with its own flag states and SDK keys. */
export const environmentSchema = z.strictObject({
  key: keySchema,
  name: nameSchema,
  description: z.string().max(2000).optional(),
  /** Production environments are protected: changes by editors need an approved change request. */
  production: z.boolean().default(false),
  requireApproval: z.boolean().default(false),
  /**
   * Emergency off switch of a protected environment: when true, a role that needs approval there
   * (an editor) may still turn a flag off through the toggle endpoint (`enabled` true → false, and
   * nothing else) without a change request; the audit entry marks it. Absent is false: protected
   * environments require approval for everything unless an owner or admin opts in.
   */
  editorsMayTurnOff: z.boolean().optional(),
  color: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a hex colour like #1f77b4').optional(),
});
export type Environment = z.output<typeof environmentSchema>;
export type EnvironmentInput = z.input<typeof environmentSchema>;
