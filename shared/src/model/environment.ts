import { z } from 'zod';
import { keySchema } from './common.js';

/** A deployment stage (development, staging, production) with its own flag states and SDK keys. */
export const environmentSchema = z.strictObject({
  key: keySchema,
  name: z.string().min(1).max(200),
  description: z.string().max(2000).optional(),
  /** Production environments are protected: changes by editors need an approved change request. */
  production: z.boolean().default(false),
  requireApproval: z.boolean().default(false),
  color: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a hex colour like #1f77b4').optional(),
});
export type Environment = z.output<typeof environmentSchema>;
export type EnvironmentInput = z.input<typeof environmentSchema>;
