import { z } from 'zod';
import { projects } from '../../store/projects.js';
import { keySchema } from '@xp/shared';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../../store/pagination.js';
import type { Page } from '../../store/pagination.js';
import type { StoredDefinition } from '../../store/definitions.js';
import { parseBearer } from '../../auth/tokens.js';
import type { Services } from '../../domain/services.js';
import { etag } from '../api.js';
import type { Reply } from '../api.js';

export const projectParams = z.strictObject({ project: keySchema });
export const projectKeyParams = z.strictObject({ project: keySchema, key: keySchema });
export const idParams = z.strictObject({ id: z.string().min(1).max(64) });
export const projectIdParams = z.strictObject({ project: keySchema, id: z.string().min(1).max(64) });

/**
 * A whole number in a query string, written in digits (`z.coerce.number` also took "0x10", "1e2",
 * " 7" and "7.0"); documented in OpenAPI as an integer.
 */
export function queryInt(min: number, max: number): z.ZodPipe<z.ZodString, z.ZodTransform<number, string>> {
  return z
    .string()
    .regex(/^\d{1,15}$/, `must be a whole number from ${min} to ${max}, in digits`)
    .transform((text, ctx) => {
      const n = Number(text);
      if (n < min || n > max) {
        ctx.issues.push({ code: 'custom', input: text, message: `must be a whole number from ${min} to ${max}, in digits` });
        return z.NEVER;
      }
      return n;
    })
    .meta({ type: 'integer', minimum: min, maximum: max });
}

export const pageQuery = {
  limit: queryInt(1, MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
  cursor: z.string().max(512).optional(),
};

export const listQuery = z.strictObject({
  ...pageQuery,
  q: z.string().max(200).optional(),
  archived: z.enum(['true', 'false']).optional(),
});

export function pageSchema<T extends z.ZodType>(item: T): z.ZodObject<{ items: z.ZodArray<T>; nextCursor: z.ZodOptional<z.ZodString> }> {
  return z.object({ items: z.array(item), nextCursor: z.string().optional() });
}

/** A stored definition as the API returns it: the document plus bookkeeping. */
export function storedSchema(definition: z.ZodType): z.ZodObject {
  return z.object({
    key: z.string(),
    version: z.number().int(),
    archived: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
    createdBy: z.string().nullable(),
    updatedBy: z.string().nullable(),
    /** The last writer's name (e-mail when they have none); null when unknown. */
    updatedByName: z.string().nullable(),
    servingChangedAt: z
      .string()
      .optional()
      .meta({ description: 'Flags only: when what the flag serves last changed (its variations\' keys and values, type, archived, clientSide, or an environment\'s state: on/off, rules, defaults, prerequisites). A metadata edit (name, description, tags, temporary, a variation\'s name) leaves it. The stale clock starts from it.' }),
    definition,
  });
}

export function storedView<T>(s: StoredDefinition<T>): Record<string, unknown> {
  return {
    key: s.key,
    version: s.version,
    archived: s.archived,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    createdBy: s.createdBy,
    updatedBy: s.updatedBy,
    updatedByName: s.updatedByName,
    ...(s.servingChangedAt === undefined ? {} : { servingChangedAt: s.servingChangedAt }),
    definition: s.definition,
  };
}

export function versioned(status: number, body: { version: number }, view: unknown = body): Reply {
  return { status, body: view, headers: { ETag: etag(body.version) } };
}

export function pageView<T>(page: Page<T>, map: (t: T) => unknown = (t) => t): Record<string, unknown> {
  return page.nextCursor === undefined ? { items: page.items.map(map) } : { items: page.items.map(map), nextCursor: page.nextCursor };
}

/** For long-lived streams: whether the request's bearer token still authenticates (not revoked, user not disabled). */
export function stillAuthenticated(services: Services, authorization: string | undefined, projectId?: string): () => Promise<boolean> {
  return () =>
    services.accounts.authenticate(parseBearer(authorization), 'stream').then(
      // A stream of a project deleted meanwhile ends too (it would only send heartbeats).
      async () => projectId === undefined || (await projects.existing(services.deps.db, [projectId])).size === 1,
      () => false,
    );
}
