import { z } from 'zod';
import { keySchema } from '@xp/shared';
import { Permission } from '../../auth/permissions.js';
import { CODE_REFS_LIMITS, branchNameSchema, codeRefBranches, codeRefsByFlag, codeRefsFor, codeRefsUploadSchema, deleteCodeRefs, repositoryNameSchema, uploadCodeRefs } from '../../domain/code-refs.js';
import type { Services } from '../../domain/services.js';
import { route } from '../api.js';
import type { AnyRoute } from '../api.js';
import { projectParams, queryInt } from './common.js';

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

const repositoryFilter = repositoryNameSchema.optional().describe('Only this repository (compared without case)');
const branchFilter = branchNameSchema.optional().describe('Only this branch');
const flagFilter = keySchema.optional().describe('Only the references of this flag');

const branchSchema = z
  .object({
    repository: z.string(),
    branch: z.string(),
    commit: z.string().nullable().describe('The commit of the latest upload'),
    uploadedAt: z.string().describe('When the latest upload was stored'),
    references: z.number().int(),
    flags: z.number().int().describe('Distinct flag keys referenced'),
  })
  .meta({ id: 'CodeRefsBranch' });

const flagCountsSchema = z
  .object({
    flagKey: z.string(),
    references: z.number().int().describe('On every repository branch'),
    branches: z.array(z.object({ repository: z.string(), branch: z.string(), references: z.number().int() })),
  })
  .meta({ id: 'FlagCodeRefs' });

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
      summary: 'Flag references found in code, across repositories and branches, a page at a time',
      description: `Ordered by flag, repository, branch, path, line and column. At most \`limit\` (default ${CODE_REFS_LIMITS.pageDefault}, at most ${CODE_REFS_LIMITS.pageMax}) per page; \`total\` counts every reference matching the filters, and \`nextCursor\` (absent on the last page) is passed as \`cursor\` for the next. Whether a flag is referenced at all: \`GET …/code-refs/flags\`.`,
      params: projectParams,
      query: z.strictObject({
        flag: flagFilter,
        repository: repositoryFilter,
        branch: branchFilter,
        limit: queryInt(1, CODE_REFS_LIMITS.pageMax).optional().describe(`References per page (default ${CODE_REFS_LIMITS.pageDefault})`),
        cursor: z.string().max(4096).optional().describe("The previous page's nextCursor"),
      }),
      responses: {
        200: {
          description: 'A page of references',
          schema: z.object({
            references: z.array(storedCodeRefSchema),
            total: z.number().int().describe('References matching the filters, on every page'),
            nextCursor: z.string().optional().describe('Absent on the last page'),
          }),
        },
      },
      handler: async (req) => ({ status: 200, body: await codeRefsFor(s.deps, req.actor, req.params.project, req.query) }),
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/code-refs/flags',
      permission: Permission.Read,
      tag: 'Code references',
      summary: 'How many references each flag has, per repository branch',
      description: 'Every referenced flag key (also keys that are no flag of the project), ordered by key; a flag that is not listed is referenced on no stored branch.',
      params: projectParams,
      query: z.strictObject({ flag: flagFilter, repository: repositoryFilter, branch: branchFilter }),
      responses: { 200: { description: 'Per flag', schema: z.object({ flags: z.array(flagCountsSchema) }) } },
      handler: async (req) => ({ status: 200, body: { flags: await codeRefsByFlag(s.deps, req.actor, req.params.project, req.query) } }),
    }),
    route({
      method: 'get',
      path: '/api/v1/projects/{project}/code-refs/branches',
      permission: Permission.Read,
      tag: 'Code references',
      summary: 'The repository branches with stored references',
      description: 'Ordered by repository and branch, with the latest upload\'s time and commit; a branch deleted in git stays until its references are deleted (`DELETE …/code-refs?repository=&branch=`).',
      params: projectParams,
      query: z.strictObject({ repository: repositoryFilter, flag: flagFilter }),
      responses: { 200: { description: 'The branches', schema: z.object({ branches: z.array(branchSchema) }) } },
      handler: async (req) => ({ status: 200, body: { branches: await codeRefBranches(s.deps, req.actor, req.params.project, req.query) } }),
    }),
    route({
      method: 'delete',
      path: '/api/v1/projects/{project}/code-refs',
      permission: Permission.CodeRefsWrite,
      tag: 'Code references',
      summary: "Delete a repository branch's references",
      description: 'For a branch deleted in git: its references no longer keep flags looking used. 404 when none are stored. Recorded in the audit log as `code-refs.deleted`.',
      params: projectParams,
      query: z.strictObject({ repository: repositoryNameSchema.describe('Compared without case'), branch: branchNameSchema }),
      responses: { 200: { description: 'Deleted', schema: z.object({ repository: z.string(), branch: z.string(), deleted: z.number().int().describe('References deleted') }) } },
      handler: async (req) => ({ status: 200, body: await deleteCodeRefs(s.deps, req.actor, req.params.project, req.query) }),
    }),
  ];
}
