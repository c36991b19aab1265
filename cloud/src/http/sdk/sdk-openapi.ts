/**
 * The SDK endpoints (/sdk/v1, /r, and OFREP's /ofrep/v1) as the OpenAPI document describes them (openapi.ts, `sdk: true`).
 * Their handlers validate by hand (the evaluation Lambda loads no zod), so the request and answer
 * shapes are written here as zod schemas for the document alone; a test holds them to the handlers
 * (sdk-openapi.test.ts: the same verdict as parseEvaluateBody on a corpus, live answers parsing).
 */
import { z } from 'zod';
import { APP_NAME_PATTERN, KEY_MAX_LENGTH, MAX_EVENTS_PER_BATCH, Reason, jsonValueSchema, keySchema, rulesetSchema, sdkBatchItemSchema } from '@xp/shared';
import { MAX_EVENT_WARNINGS, RejectCode } from './event-batch.js';

/** The header the SDK key travels in (sdk-keys.ts SDK_KEY_HEADER; not imported: that module loads the database layer). */
const SDK_KEY_HEADER_NAME = 'X-XP-SDK-Key';

/** POST /sdk/v1/evaluate's body, as parseEvaluateBody takes it (less the NUL, surrogate and depth checks JSON Schema cannot say). */
export const evaluateBodySchema = z
  .strictObject({
    unit: z
      .strictObject({
        id: z.string().min(1).max(256).nullable().optional().describe('1-256 UTF-16 code units; wins over attributes.id; null or left out: a unit known by its attributes alone'),
        attributes: z
          .record(z.string().max(200), jsonValueSchema)
          .nullable()
          .optional()
          .describe('Targeting attributes: any JSON, nested at most 32 levels; null counts as absent'),
      })
      .describe('The unit evaluated'),
    flags: z.array(keySchema).max(200).optional().describe('Flag keys to evaluate (at most 200); left out: every flag; []: none'),
    explain: z.boolean().optional().describe('Also return each flag\u2019s bucket, failed prerequisite, experiment assignment and trace'),
    privateAttributes: z
      .union([z.array(z.string().min(1).max(200)), z.boolean()])
      .nullable()
      .optional()
      .describe('Attributes evaluated but not stored with exposures, by name, or true for all; false and null: none'),
    exposure: z.boolean().optional().describe('false: log no exposure for this call (send it through /sdk/v1/events when the value is used); default true'),
  });

const traceStepSchema = z.object({ ruleId: z.string().optional(), outcome: z.string(), detail: z.string().optional() });

const evaluatedFlagSchema = z.object({
  value: jsonValueSchema.describe('The value served; null for a flag not found or in error (the server has no default)'),
  variationKey: z.string().nullable(),
  reason: z.enum([...new Set(Object.values(Reason))] as [Reason, ...Reason[]]),
  ruleId: z.string().optional(),
  errorCode: z.string().optional(),
  errorMessage: z.string().optional(),
  bucket: z.number().optional(),
  prerequisite: z.string().optional(),
  experiment: z
    .object({
      key: z.string(),
      variationKey: z.string(),
      inExperiment: z.boolean(),
      sticky: z.boolean(),
      forced: z.literal(true).optional(),
      hashAttribute: z.string(),
      bucket: z.number().optional(),
    })
    .optional(),
  trace: z.array(traceStepSchema).optional(),
});

/** POST /sdk/v1/evaluate's 200 answer. */
export const evaluateAnswerSchema = z.object({ version: z.number().int(), flags: z.record(z.string(), evaluatedFlagSchema) });

/** POST /sdk/v1/events' body: exposures, tracked events and evaluation counts, each checked on its own (a batch with some invalid ones is still a 202). */
export const eventsBodySchema = z.strictObject({ events: z.array(sdkBatchItemSchema).min(1) });

/** POST /sdk/v1/events' 202 answer. */
export const eventsAnswerSchema = z
  .object({
    accepted: z.number().int(),
    rejected: z.array(
      z.object({
        index: z.number().int(),
        id: z.string().optional(),
        code: z.enum(Object.values(RejectCode) as [RejectCode, ...RejectCode[]]),
        reason: z.string(),
      }),
    ),
    warnings: z
      .array(
        z.object({
          index: z.number().int(),
          id: z.string(),
          code: z.enum(['UNKNOWN_EXPERIMENT', 'UNKNOWN_VARIATION']),
          message: z.string(),
        }),
      )
      .max(MAX_EVENT_WARNINGS)
      .optional()
      .describe("Accepted exposures naming an experiment the environment's ruleset does not run, or a variation it does not have (stored, but counted in no results); absent when there are none"),
    warningsOmitted: z.number().int().optional().describe(`Such exposures beyond the first ${MAX_EVENT_WARNINGS} listed`),
  });

/** GET /sdk/v1/ruleset's 200 answer (with ?include=serverOnly, one more top-level field, `serverOnly`). */
export const sdkRulesetSchema = rulesetSchema;

/** OFREP's error codes (ofrep.ts OfrepErrorCode; not imported: that module loads the database layer). */
export const OFREP_ERROR_CODES = ['FLAG_NOT_FOUND', 'PARSE_ERROR', 'TARGETING_KEY_MISSING', 'INVALID_CONTEXT', 'GENERAL'] as const;

/**
 * An OFREP request's body, as parseOfrepBody takes it: `context.targetingKey` is the unit id, the
 * other fields its attributes (checked as /sdk/v1/evaluate checks `unit.attributes`); other
 * top-level fields are ignored (the protocol's later additions).
 */
export const ofrepBodySchema = z
  .object({
    context: z
      .object({
        targetingKey: z
          .union([z.string().max(256), z.number()])
          .nullable()
          .optional()
          .describe('The unit id (at most 256 UTF-16 code units; a number is taken as its decimal string); empty, null or left out: a unit known by its attributes alone'),
      })
      .catchall(jsonValueSchema)
      .nullable()
      .optional()
      .describe('The evaluation context: targetingKey and the unit\u2019s attributes (names of at most 200 characters, any JSON nested at most 32 levels)'),
  })
  .describe('OFREP evaluation request (OpenFeature Remote Evaluation Protocol)');

/** A flag evaluated (OFREP's evaluationSuccess). */
export const ofrepSuccessSchema = z.object({
  key: z.string(),
  value: jsonValueSchema.describe('The value served'),
  reason: z.string().describe('STATIC (on, no rule: the same value for everyone), TARGETING_MATCH, SPLIT, DEFAULT, DISABLED'),
  variant: z.string().optional().describe('The variation\u2019s key'),
  metadata: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
    .describe('xpReason (xp\u2019s own reason), ruleId, prerequisite, and for a flag an experiment served experimentKey, experimentVariation, inExperiment'),
});

/** A flag, or a request, that could not be evaluated (OFREP's evaluationFailure; `key` left out where no flag was named). */
export const ofrepFailureSchema = z.object({
  key: z.string().optional(),
  errorCode: z.enum(OFREP_ERROR_CODES),
  errorDetails: z.string(),
});

/** OFREP's general error (401, 403, 429, 5xx): `{ errorDetails }`. */
export const ofrepGeneralErrorSchema = z.object({ errorDetails: z.string() });

/** POST /ofrep/v1/evaluate/flags's 200 answer (OFREP's bulkEvaluationSuccess). */
export const ofrepBulkAnswerSchema = z.object({ flags: z.array(z.union([ofrepSuccessSchema, ofrepFailureSchema.extend({ key: z.string() })])) });

/** The security schemes the SDK operations use. */
export const SDK_SECURITY_SCHEMES = {
  sdkKey: { type: 'apiKey', in: 'header', name: SDK_KEY_HEADER_NAME, description: 'An SDK key: server-side (xpk_srv_…) or client-side (xpk_cli_…); a server key from a web page (with Origin) is refused' },
  sdkClientKeyQuery: { type: 'apiKey', in: 'query', name: 'k', description: 'A client-side SDK key (xpk_cli_…) in the link: only GET /r/{experimentKey} takes a key in the URL' },
  sdkKeyBearer: { type: 'http', scheme: 'bearer', description: 'An SDK key as a bearer token (`Authorization: Bearer xpk_…`), as OFREP providers send it: OFREP endpoints only' },
  sdkKeyApiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An SDK key in OFREP\u2019s API-key header: OFREP endpoints only' },
} as const;

type Json = Record<string, unknown>;

/** `$ref`s for the schemas above, by the names openapi.ts gives their components. */
export interface SdkSchemaRefs {
  readonly evaluateBody: Json;
  readonly evaluateAnswer: Json;
  readonly eventsBody: Json;
  readonly eventsAnswer: Json;
  readonly ruleset: Json;
  readonly error: Json;
  readonly ofrepBody: Json;
  readonly ofrepSuccess: Json;
  readonly ofrepFailure: Json;
  readonly ofrepGeneralError: Json;
  readonly ofrepBulkAnswer: Json;
}

const RETRY_AFTER = { 'Retry-After': { description: 'Seconds to wait before sending the request again', schema: { type: 'integer', minimum: 0 } } };

/** The SDK operations, by path and method. */
/** The application a remote evaluation counts under (its evaluation counts' `app`). */
const appHeader = {
  name: 'X-XP-App',
  in: 'header',
  required: false,
  description: `The application (service) the evaluations count under, as an SDK's \`appName\`; absent: none named. Malformed: 400 naming the header`,
  schema: { type: 'string', minLength: 1, maxLength: 64, pattern: APP_NAME_PATTERN.source },
};

export function sdkPaths(refs: SdkSchemaRefs): Record<string, Record<string, Json>> {
  const error = (description: string, headers?: Json): Json => ({ description, ...(headers === undefined ? {} : { headers }), content: { 'application/json': { schema: refs.error } } });
  const common: Record<string, Json> = {
    '400': error('Invalid request: details.issues names the field (body.…, query.…) or the header'),
    '401': error('Missing, malformed, unknown, revoked or expired SDK key'),
    '403': error('A server-side key sent from a web page (a request with Origin)'),
    '429': error('Rate limited (an API Gateway throttle has no Retry-After)', RETRY_AFTER),
    '503': error('Unavailable for now (the database, the event stream); retry after Retry-After seconds', RETRY_AFTER),
  };
  const security = [{ sdkKey: [] }];
  const keyLength = `at most ${KEY_MAX_LENGTH} characters`;
  // OFREP: a bearer token (what OFREP providers send), X-API-Key or X-XP-SDK-Key; one of them.
  const ofrepSecurity = [{ sdkKeyBearer: [] }, { sdkKeyApiKey: [] }, { sdkKey: [] }];
  const ofrepJson = (description: string, schema: Json, headers?: Json): Json => ({ description, ...(headers === undefined ? {} : { headers }), content: { 'application/json': { schema } } });
  const ofrepCommon: Record<string, Json> = {
    '401': ofrepJson('Missing, malformed, unknown, revoked or expired SDK key, or two different keys', refs.ofrepGeneralError),
    '403': ofrepJson('A server-side key sent from a web page (a request with Origin)', refs.ofrepGeneralError),
    '429': ofrepJson('Rate limited (an API Gateway throttle has no Retry-After)', refs.ofrepGeneralError, RETRY_AFTER),
    '500': ofrepJson('Internal error', { oneOf: [refs.ofrepFailure, refs.ofrepGeneralError] }),
    '503': ofrepJson('Unavailable for now (the database); retry after Retry-After seconds', refs.ofrepGeneralError, RETRY_AFTER),
  };
  const ofrepBody = { required: false, content: { 'application/json': { schema: refs.ofrepBody } } };
  const ofrepBadRequest = 'PARSE_ERROR (a body that is not a JSON object, or not JSON), INVALID_CONTEXT (a context xp cannot take, or over 64 KB), GENERAL (a key in the URL)';
  return {
    '/sdk/v1/ruleset': {
      get: {
        summary: 'The compiled ruleset of the key\u2019s environment',
        description:
          'A client-side key gets the view without the server-side-only flags and experiments. ETag and If-None-Match (304); gzip when accepted. With ?include=serverOnly (server keys) the document carries one more top-level field, `serverOnly`: `{ flags, experiments, savedGroups, holdouts }`, the keys the client-side view leaves out.',
        tags: ['SDK'],
        operationId: 'getSdkV1Ruleset',
        security,
        parameters: [
          { name: 'include', in: 'query', required: false, schema: { type: 'string', enum: ['serverOnly'] } },
          { name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } },
        ],
        responses: {
          '200': { description: 'The ruleset', headers: { ETag: { description: 'The published ruleset\u2019s tag (the same for both encodings)', schema: { type: 'string' } } }, content: { 'application/json': { schema: refs.ruleset } } },
          '304': { description: 'Not modified: If-None-Match holds the current tag' },
          '404': error('No ruleset has been published for this environment yet'),
          ...common,
        },
      },
    },
    '/sdk/v1/stream': {
      get: {
        summary: 'Server-sent events: one `ruleset` event per published version',
        description:
          'The first event is the current version; Last-Event-ID is ignored. `data` is `{ version, etag }`, with `ruleset` too under ?include=ruleset. Heartbeat comments every 15 s. A stream that ends (also cut off by a server shutting down) means reconnect.',
        tags: ['SDK'],
        operationId: 'getSdkV1Stream',
        security,
        parameters: [{ name: 'include', in: 'query', required: false, schema: { type: 'string', enum: ['ruleset'] } }],
        responses: {
          '200': { description: 'The event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          '404': error('STREAM_NOT_AVAILABLE: this deployment does not stream; poll GET /sdk/v1/ruleset instead'),
          ...common,
        },
      },
    },
    '/sdk/v1/evaluate': {
      post: {
        summary: 'Evaluates flags for a unit and logs its exposures',
        description:
          'Body at most 64 KB (413 beyond). Strings and keys may not hold NUL or unpaired surrogates; numbers must be finite. An unknown flag answers value null, reason and errorCode FLAG_NOT_FOUND. Safe to retry (a repeated exposure changes no result). ' +
          'The flags named in `flags` count in the flags\u2019 evaluation counts (by served variation; null for an unknown flag or an error); a request without `flags` (every flag: a prefetch) or with `explain` counts none.',
        tags: ['SDK'],
        operationId: 'postSdkV1Evaluate',
        security,
        parameters: [appHeader],
        requestBody: { required: true, content: { 'application/json': { schema: refs.evaluateBody } } },
        responses: {
          '200': { description: 'Each flag\u2019s result', content: { 'application/json': { schema: refs.evaluateAnswer } } },
          '404': error('No ruleset has been published for this environment yet'),
          '413': error('The body is over 64 KB'),
          ...common,
        },
      },
    },
    '/sdk/v1/events': {
      post: {
        summary: 'Accepts a batch of exposures, tracked events and flag evaluation counts',
        description: `Each event is checked on its own (${MAX_EVENTS_PER_BATCH} a batch, 16 KB each); the valid ones are stored, the others listed in \`rejected\`. Resend a batch refused with 429 or 503 with the same event ids. An \`evaluations\` record counts flag evaluations over a window of at most an hour (\`start\` to \`timestamp\`), each (flag, variation) pair at most once, 1-100 pairs; the pipeline counts each record id once.`,
        tags: ['SDK'],
        operationId: 'postSdkV1Events',
        security,
        requestBody: { required: true, content: { 'application/json': { schema: refs.eventsBody } } },
        responses: {
          '202': { description: 'The valid events were stored', content: { 'application/json': { schema: refs.eventsAnswer } } },
          '413': error('The body is over 500 \u00d7 16 KB + 1 MB'),
          ...common,
          '400': error('No valid event (details: { accepted: 0, rejected }), an empty batch, or a body that is not { events: [...] }'),
        },
      },
    },
    '/ofrep/v1/evaluate/flags/{key}': {
      post: {
        summary: 'OFREP: evaluates one flag for a context (OpenFeature Remote Evaluation Protocol)',
        description:
          'For OpenFeature server providers. `context.targetingKey` is the unit id, the other fields its attributes; evaluation, sticky assignments and exposures are those of POST /sdk/v1/evaluate. A client-side key sees the client-side flags only. An empty body is an empty context. The answer counts in the flag\u2019s evaluation counts (a flag not found: as the default served); the bulk endpoint\u2019s answers (a prefetch) do not.',
        tags: ['SDK'],
        operationId: 'postOfrepV1EvaluateFlagsKey',
        security: ofrepSecurity,
        parameters: [{ name: 'key', in: 'path', required: true, schema: { type: 'string', minLength: 1, description: keyLength } }, appHeader],
        requestBody: ofrepBody,
        responses: {
          '200': ofrepJson('The flag\u2019s value', refs.ofrepSuccess),
          '400': ofrepJson(`${ofrepBadRequest}; TARGETING_KEY_MISSING (a rule bucketing on the unit id and no targetingKey); PARSE_ERROR or INVALID_CONTEXT from the flag\u2019s evaluation`, refs.ofrepFailure),
          '404': ofrepJson('FLAG_NOT_FOUND: no such flag for this key (also: nothing published for this environment yet)', refs.ofrepFailure),
          ...ofrepCommon,
        },
      },
    },
    '/ofrep/v1/evaluate/flags': {
      post: {
        summary: 'OFREP: evaluates every flag the key sees for a context (OpenFeature Remote Evaluation Protocol)',
        description:
          'For OpenFeature client providers, which poll it: the answer has an ETag, and an If-None-Match that still holds gets 304. Flags that could not be evaluated are in `flags` with their errorCode. Nothing published for this environment yet: `{ "flags": [] }`.',
        tags: ['SDK'],
        operationId: 'postOfrepV1EvaluateFlags',
        security: ofrepSecurity,
        parameters: [{ name: 'If-None-Match', in: 'header', required: false, schema: { type: 'string' } }],
        requestBody: ofrepBody,
        responses: {
          '200': ofrepJson('Every flag\u2019s value or error', refs.ofrepBulkAnswer, { ETag: { description: 'The answer\u2019s tag (send it back in If-None-Match)', schema: { type: 'string' } } }),
          '304': { description: 'Not modified: If-None-Match holds the answer\u2019s tag' },
          '400': ofrepJson(ofrepBadRequest, refs.ofrepFailure),
          ...ofrepCommon,
        },
      },
    },
    '/r/{experimentKey}': {
      get: {
        summary: 'Split-URL redirect: assigns the visitor and sends them to their variation\u2019s URL',
        description: 'Reads or sets the xp_uid cookie and logs an exposure for a visitor in the experiment. Only a client-side key, in ?k= (or the header).',
        tags: ['SDK'],
        operationId: 'getRExperimentKey',
        security: [{ sdkClientKeyQuery: [] }],
        parameters: [{ name: 'experimentKey', in: 'path', required: true, schema: { type: 'string', minLength: 1, description: keyLength } }],
        responses: {
          '302': { description: 'To the variation\u2019s URL, with the incoming query string (less k)', headers: { Location: { schema: { type: 'string' } } } },
          '404': error('Unknown experiment, or no URL for this visitor'),
          ...common,
          '503': { description: 'A browser prefetch, declined (no body), or unavailable for now', headers: RETRY_AFTER },
        },
      },
    },
  };
}
