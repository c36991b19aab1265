import { z } from 'zod';
import { keySchema } from '@xp/shared';
import { Permission } from '../../auth/permissions.js';
import { CODE_REFS_LIMITS, codeRefsFor, codeRefsUploadSchema, uploadCodeRefs } from '../../domain/code-refs.js';
import type { Services } from '../../domain/services.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { projectParams } from './common.js';

const storedCodeRefSchema = z
  .object({
    flagKey: z.string(),
    repository: z.string(),
    branch: z.string(),
    commit: z.string().nullable(),
    path: z.string(),
    line: z.number().int().describe('1-based'),
    column: z.number().int().describe('1-based'),
    snippet: z.string(),
    language: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'CodeRef' });

const uploadResultSchema = z
  .object({
    repository: z.string(),
    branch: z.string(),
    stored: z.number().int().describe('References now stored for this repository and branch'),
    replaced: z.number().int().describe('References the upload replaced (with a scope: those under it)'),
    flags: z.number().int().describe('Distinct flag keys in the upload'),
  })
  .meta({ id: 'CodeRefsUploadResult' });

/** Where flags live in code: uploaded by `xp code-refs` (CI), read by the console. */
export function codeRefRoutes(s: Services): AnyRoute[] {
  return [
    route({
      method: 'post',
      path: '/api/v1/projects/{project}/code-refs',
      permission: Permission.CodeRefsWrite,
      tag: 'Code references',
      summary: "Replace a repository branch's flag references",
      description: `Replaces every stored reference of (project, repository, branch) with the body's; with \`scope\` (a folder such as "packages/api"), only the stored references whose path is under it, and an uploaded path outside it is refused (400), so uploads for the parts of a repository add up. At most ${CODE_REFS_LIMITS.references} references, snippets up to ${CODE_REFS_LIMITS.snippet} characters.`,
      params: projectParams,
      body: codeRefsUploadSchema,
      responses: { 200: { description: 'What is stored now', schema: uploadResultSchema } },
      handler: async (req) => ({ status: 200, body: await uploadCodeRefs(s.deps, req.actor, req.params.project, req.body) }),
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/code-refs',
      permission: Permission.Read,
      tag: 'Code references',
      summary: 'Flag references found in code, across repositories and branches',
      description: `Ordered by flag, repository, branch, path and line; at most ${CODE_REFS_LIMITS.list}.`,
      params: projectParams,
      query: z.strictObject({ flag: keySchema.optional().describe('Only the references of this flag') }),
      responses: { 200: { description: 'The references', schema: z.object({ references: z.array(storedCodeRefSchema) }) } },
      handler: async (req) => ({ status: 200, body: { references: await codeRefsFor(s.deps, req.actor, req.params.project, req.query.flag) } }),
    }),
  ];
}
