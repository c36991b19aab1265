import { createHash } from 'node:crypto';
import type { Context, Hono } from 'hono';
import type { EvaluationResult, ExposureEvent, PipelineEvent, PipelineRecord, Ruleset } from '@xp/shared/edge';
import { ErrorCode, Reason, evaluateFlag, exposureAttributes, isKey } from '@xp/shared/edge';
import type { Logger } from '../../domain/context.js';
import { AppError, AppErrorCode } from '../../errors.js';
import { loadStickySnapshot, saveStickySnapshot } from '../../store/sticky-buckets.js';
import type { StickyAssignmentStore } from '../../store/sticky-buckets.js';
import { declaredLength } from '../body-limits.js';
import { anyOriginCors, preflightHeaders } from './cors.js';
import { errorResponse } from '../errors.js';
import type { RulesetView } from './ruleset-cache.js';
import { SDK_KEY_HEADER, authenticateSdkKey, rejectKeysInQuery, rejectServerKeyFromPage } from './sdk-keys.js';
import type { SdkCaller, SdkKeyCache } from './sdk-keys.js';
import { noteEvaluations } from './sdk-outcomes.js';
import { serverEvaluationCounts } from './event-batch.js';
import { parseEvaluateBody, remoteEvaluationApp, servedVariation } from './sdk-routes.js';

/**
 * The OpenFeature Remote Evaluation Protocol (OFREP, github.com/open-feature/protocol,
 * service/openapi.yaml) over xp's remote evaluation: any OpenFeature SDK with an OFREP provider (Go,
 * Java, .NET, PHP, Ruby, Rust, Python, JavaScript) evaluates xp flags without an xp SDK.
 *
 * - `POST /ofrep/v1/evaluate/flags/{key}`: one flag (server providers);
 * - `POST /ofrep/v1/evaluate/flags`: every flag the key sees, with an ETag of the answer and 304 for
 *   an `If-None-Match` that still holds (client providers poll it).
 *
 * The body is `{ "context": { "targetingKey"?, ...attributes } }`: `targetingKey` is the unit id,
 * the rest its attributes, validated as /sdk/v1/evaluate validates `unit` (parseEvaluateBody). The
 * SDK key comes as `Authorization: Bearer <key>` (what OFREP providers send for a bearer token),
 * `X-API-Key` (the protocol's API-key scheme) or xp's `X-XP-SDK-Key`; server and client keys alike,
 * a client key seeing the client-side flags only. Evaluation, sticky assignments and exposures are
 * those of /sdk/v1/evaluate. Errors take the protocol's shape (`{ key?, errorCode, errorDetails }`,
 * `{ errorDetails }` for 401, 403, 429 and 5xx), never xp's `{ error }`.
 */

/** What the SDK routes share with the OFREP routes (mountSdkRoutes hands them over). */
export interface OfrepDeps {
  readonly keys: SdkKeyCache;
  /** The ruleset the caller's key sees; AppError NOT_FOUND when none was published yet. */
  readonly current: (who: SdkCaller) => Promise<RulesetView>;
  readonly sticky: StickyAssignmentStore;
  /** Sends exposures (and evaluation counts) as /sdk/v1/evaluate does (batched, retried, never failing the request). */
  readonly logExposures: (events: PipelineRecord[]) => Promise<void>;
  /** A new event id (for the evaluation counts). */
  readonly newId: () => string;
  readonly exposure: (who: SdkCaller, at: number, e: Omit<ExposureEvent, 'id' | 'timestamp' | 'type'>) => PipelineEvent;
  readonly now: () => number;
  /** Reads the JSON body within /sdk/v1/evaluate's size limit and the body budget. */
  readonly readBody: (c: Context) => Promise<unknown>;
  readonly logger: Logger;
}

/** OFREP's error codes (OpenFeature's). */
export const OfrepErrorCode = {
  FlagNotFound: 'FLAG_NOT_FOUND',
  ParseError: 'PARSE_ERROR',
  TargetingKeyMissing: 'TARGETING_KEY_MISSING',
  InvalidContext: 'INVALID_CONTEXT',
  General: 'GENERAL',
} as const;
export type OfrepErrorCode = (typeof OfrepErrorCode)[keyof typeof OfrepErrorCode];

/** The headers OFREP providers send the key in, and the others a browser may send: what the preflight allows. */
const ALLOWED_HEADERS = ['Authorization', 'X-API-Key', SDK_KEY_HEADER, 'Content-Type', 'If-None-Match', 'X-XP-App'];
/** The answer to an OFREP preflight (OPTIONS), 204 with these; the local server's too while it starts. */
export const OFREP_PREFLIGHT_HEADERS = preflightHeaders('POST, OPTIONS', ALLOWED_HEADERS);

/** Left out of an exposure's attributes, as /sdk/v1/evaluate leaves it out: the unit id is the exposure's unitId. */
const UNIT_ID_ATTRIBUTE = ['id'];
const EXPLAIN = { explain: true } as const;

/** A refusal in the protocol's terms. */
class OfrepFailure extends Error {
  constructor(
    readonly status: 400 | 404 | 500,
    readonly errorCode: OfrepErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'OfrepFailure';
  }
}

/** xp evaluation errors → OFREP's (as the xp OpenFeature provider maps them, sdk/js/src/openfeature/mapping.ts). */
const ERROR_CODES: Readonly<Record<string, OfrepErrorCode>> = {
  [ErrorCode.FlagNotFound]: OfrepErrorCode.FlagNotFound,
  [ErrorCode.ParseError]: OfrepErrorCode.ParseError,
  [ErrorCode.InvalidRule]: OfrepErrorCode.ParseError,
  [ErrorCode.PrerequisiteCycle]: OfrepErrorCode.ParseError,
  [ErrorCode.InvalidContext]: OfrepErrorCode.InvalidContext,
  // From evaluation, TYPE_MISMATCH is a bucketing attribute of the wrong type: a context problem.
  [ErrorCode.TypeMismatch]: OfrepErrorCode.InvalidContext,
  [ErrorCode.General]: OfrepErrorCode.General,
};

/** The SDK key: X-XP-SDK-Key, `Authorization: Bearer`, or X-API-Key; two different ones are refused. */
function sdkKeyOf(c: Context): string | undefined {
  const given: string[] = [];
  const xp = c.req.header(SDK_KEY_HEADER);
  if (xp !== undefined && xp.trim() !== '') {
    given.push(xp.trim());
  }
  const authorization = c.req.header('authorization');
  if (authorization !== undefined && authorization.trim() !== '') {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
    // A bare key (`Authorization: xpk_…`, as some providers' examples configure it) is taken too.
    const bare = /^\S+$/.test(authorization.trim()) ? authorization.trim() : undefined;
    const key = bearer?.[1] ?? bare;
    if (key === undefined) {
      throw new AppError(AppErrorCode.Unauthenticated, 'the Authorization header must be "Bearer <SDK key>"');
    }
    given.push(key);
  }
  const apiKey = c.req.header('x-api-key');
  if (apiKey !== undefined && apiKey.trim() !== '') {
    given.push(apiKey.trim());
  }
  if (new Set(given).size > 1) {
    throw new AppError(AppErrorCode.Unauthenticated, 'the request carries two different SDK keys (Authorization, X-API-Key, X-XP-SDK-Key): send one');
  }
  return given[0];
}

async function callerOf(c: Context, deps: OfrepDeps): Promise<SdkCaller> {
  try {
    rejectKeysInQuery(c);
  } catch (error) {
    // A key in the URL (logs, caches): refused as on every SDK endpoint, with the protocol's catch-all code.
    throw error instanceof AppError ? new OfrepFailure(400, OfrepErrorCode.General, error.message) : error;
  }
  const key = sdkKeyOf(c);
  rejectServerKeyFromPage(c, key);
  if (key === undefined) {
    throw new AppError(AppErrorCode.Unauthenticated, 'send an xp SDK key as "Authorization: Bearer <key>" (or in the X-XP-SDK-Key header)');
  }
  return authenticateSdkKey(deps.keys, key, ['server', 'client']);
}

/** The unit OFREP's context describes: targetingKey → id, the rest → attributes, validated as /sdk/v1/evaluate's `unit`. */
export interface OfrepUnit {
  readonly id?: string;
  readonly attributes: Record<string, unknown>;
}

/**
 * Reads `{ context }` (other top-level fields are ignored, for the protocol's later additions).
 * PARSE_ERROR for a body that is not a JSON object, INVALID_CONTEXT for a context xp cannot take.
 */
export function parseOfrepBody(input: unknown): OfrepUnit {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new OfrepFailure(400, OfrepErrorCode.ParseError, 'the request body must be a JSON object: { "context": { "targetingKey": "…", … } }');
  }
  const context = (input as { context?: unknown }).context;
  if (context === undefined || context === null) {
    return { attributes: {} };
  }
  if (typeof context !== 'object' || Array.isArray(context)) {
    throw new OfrepFailure(400, OfrepErrorCode.InvalidContext, 'context must be an object');
  }
  const { targetingKey, ...attributes } = context as Record<string, unknown>;
  let id: string | undefined;
  if (typeof targetingKey === 'string') {
    // An empty key is no key, as in the xp OpenFeature provider.
    id = targetingKey === '' ? undefined : targetingKey;
  } else if (typeof targetingKey === 'number' && Number.isFinite(targetingKey)) {
    id = String(targetingKey);
  } else if (targetingKey !== undefined && targetingKey !== null) {
    throw new OfrepFailure(400, OfrepErrorCode.InvalidContext, 'context.targetingKey must be a string');
  }
  try {
    parseEvaluateBody({ unit: { ...(id === undefined ? {} : { id }), attributes } });
  } catch (error) {
    if (error instanceof AppError && error.code === AppErrorCode.Validation) {
      const issue = (error.details as { issues?: { path: string; message: string }[] } | undefined)?.issues?.[0];
      const path = (issue?.path ?? '')
        .replace(/^body\.?/, '')
        .replace(/^unit\.id$/, 'targetingKey')
        .replace(/^unit\.attributes\.?/, '')
        .replace(/^unit\.?/, '');
      throw new OfrepFailure(400, OfrepErrorCode.InvalidContext, `invalid context: ${path === '' ? '' : `context.${path}: `}${issue?.message ?? error.message}`);
    }
    throw error;
  }
  return { ...(id === undefined ? {} : { id }), attributes };
}

/** The reason OFREP gives: xp's, but STATIC for a flag that is on with no prerequisite and no rule (the same value for everyone). */
function ofrepReason(result: EvaluationResult, flag: unknown): string {
  if (result.reason === Reason.Default && typeof flag === 'object' && flag !== null) {
    const f = flag as { on?: boolean; rules?: unknown[]; prerequisites?: unknown[] };
    if (f.on !== false && (f.rules?.length ?? 0) === 0 && (f.prerequisites?.length ?? 0) === 0) {
      return 'STATIC';
    }
  }
  return result.reason;
}

/**
 * Whether the unit's lack of an id (no targetingKey) decided the result: a rule or experiment that
 * hashes on `id` (or falls back to it) was passed by for want of a value (`trace` of an explained
 * evaluation). xp serves such a unit the next rule's value; OFREP calls it TARGETING_KEY_MISSING.
 */
function missedForLackOfId(result: EvaluationResult, flag: unknown, ruleset: Ruleset): boolean {
  const steps = result.trace ?? [];
  const rules = (typeof flag === 'object' && flag !== null ? (flag as { rules?: unknown }).rules : undefined) ?? [];
  if (!Array.isArray(rules)) {
    return false;
  }
  const hashesOnId = (h: { hashAttribute?: unknown; fallbackAttribute?: unknown } | undefined): boolean => h !== undefined && (h.hashAttribute === 'id' || h.fallbackAttribute === 'id');
  return steps.some((step) => {
    if (step.outcome !== 'no-hash-attribute' && !(step.outcome === 'not-in-experiment' && step.detail === 'NO_HASH_ATTRIBUTE')) {
      return false;
    }
    const rule = (rules as { id?: unknown; type?: unknown; experiment?: unknown; hashAttribute?: unknown; fallbackAttribute?: unknown }[]).find((r) => r.id === step.ruleId);
    if (rule === undefined) {
      return false;
    }
    if (rule.type === 'experiment') {
      const exp = typeof rule.experiment === 'string' ? ruleset.experiments?.[rule.experiment] : undefined;
      return hashesOnId(exp);
    }
    return hashesOnId(rule);
  });
}

/** One flag's OFREP answer: a success, or a failure with its code. */
type FlagAnswer =
  | { readonly ok: true; readonly body: { key: string; value: unknown; reason: string; variant?: string; metadata: Record<string, string | number | boolean> } }
  | { readonly ok: false; readonly status: 400 | 404 | 500; readonly body: { key: string; errorCode: OfrepErrorCode; errorDetails: string } };

function answerFor(key: string, result: EvaluationResult, flag: unknown, ruleset: Ruleset, unitHasId: boolean): FlagAnswer {
  if (result.errorCode !== undefined) {
    const errorCode = ERROR_CODES[result.errorCode] ?? OfrepErrorCode.General;
    const status = errorCode === OfrepErrorCode.FlagNotFound ? 404 : errorCode === OfrepErrorCode.General ? 500 : 400;
    return { ok: false, status, body: { key, errorCode, errorDetails: result.errorMessage ?? `flag "${key}" could not be evaluated (${result.errorCode})` } };
  }
  if (!unitHasId && missedForLackOfId(result, flag, ruleset)) {
    return {
      ok: false,
      status: 400,
      body: { key, errorCode: OfrepErrorCode.TargetingKeyMissing, errorDetails: `flag "${key}" buckets units by their id: send the unit's id as context.targetingKey` },
    };
  }
  const exp = result.experiment;
  const metadata: Record<string, string | number | boolean> = {
    xpReason: result.reason,
    ...(result.ruleId === undefined ? {} : { ruleId: result.ruleId }),
    ...(result.prerequisite === undefined ? {} : { prerequisite: result.prerequisite }),
    ...(exp === undefined ? {} : { experimentKey: exp.key, experimentVariation: exp.variationKey, inExperiment: exp.inExperiment }),
  };
  return {
    ok: true,
    body: { key, value: result.value, reason: ofrepReason(result, flag), ...(result.variationKey === null ? {} : { variant: result.variationKey }), metadata },
  };
}

/** The ETag of a bulk answer: its bytes' digest (a change of any value, reason or variant changes it). */
function etagOf(json: string): string {
  return `"${createHash('sha256').update(json).digest('base64url').slice(0, 27)}"`;
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) {
    return false;
  }
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}

/** The body, with an empty one (no context) taken as `{}`. */
async function bodyOf(c: Context, deps: OfrepDeps): Promise<unknown> {
  const length = declaredLength(c);
  if (length === 0 || (length === undefined && c.req.header('transfer-encoding') === undefined && c.req.header('content-type') === undefined)) {
    return {};
  }
  return deps.readBody(c);
}

/**
 * An error as the protocol shapes it. Anything but an OfrepFailure first goes through the app's own
 * errorResponse (logging, Retry-After, the status it deserves), whose answer is then reworded.
 */
async function failure(c: Context, error: unknown, logger: Logger, key: string | undefined): Promise<Response> {
  c.header('Cache-Control', 'no-store');
  if (error instanceof OfrepFailure) {
    return c.json({ ...(key === undefined ? {} : { key }), errorCode: error.errorCode, errorDetails: error.message }, error.status);
  }
  const xp = errorResponse(c, error, logger);
  const body = (await xp.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  const code = body.error?.code;
  const errorDetails = body.error?.message ?? 'the request failed';
  const withCode = (status: 400 | 404, errorCode: OfrepErrorCode): Response => c.json({ ...(key === undefined ? {} : { key }), errorCode, errorDetails }, status);
  switch (code) {
    case AppErrorCode.MalformedJson:
      return withCode(400, OfrepErrorCode.ParseError);
    case AppErrorCode.Validation:
      // Content-Type or Content-Encoding refused (readBody): the body could not be read.
      return withCode(400, OfrepErrorCode.ParseError);
    case AppErrorCode.PayloadTooLarge:
      // Beyond /sdk/v1/evaluate's 64 KiB: a context too large to evaluate.
      return withCode(400, OfrepErrorCode.InvalidContext);
    case AppErrorCode.NotFound:
      return withCode(404, OfrepErrorCode.FlagNotFound);
    default:
      // 401, 403, 429 (Retry-After), 503 (Retry-After), 500: the protocol's general error response.
      return c.json({ errorDetails }, xp.status as 401);
  }
}

/** Registers the OFREP routes beside the SDK routes (same keys, rulesets, sticky store and exposure path). */
export function mountOfrepRoutes(app: Hono, deps: OfrepDeps): void {
  app.use('/ofrep/v1/*', anyOriginCors(OFREP_PREFLIGHT_HEADERS));

  /** Evaluates `keys` (all the caller sees when undefined) for the request's unit, logging exposures as /sdk/v1/evaluate does. */
  /**
   * Evaluates and answers; `count` adds the answers to the flags' evaluation counts (a single flag's
   * resolution; a bulk answer is a provider's prefetch of every flag, which would count them all as used).
   */
  const evaluate = async (c: Context, who: SdkCaller, unit: OfrepUnit, view: RulesetView, keys: readonly string[], count: { readonly app: string | undefined } | false): Promise<FlagAnswer[]> => {
    const at = deps.now();
    const attributes = unit.id === undefined ? { ...unit.attributes } : { ...unit.attributes, id: unit.id };
    const snapshot = await loadStickySnapshot(deps.sticky, who.projectId, view.ruleset, attributes, deps.logger);
    const context = { attributes, now: at, ...(snapshot === undefined ? {} : { stickyBuckets: snapshot }) };
    // A unit without an id (neither targetingKey nor an `id` attribute) is evaluated with a trace,
    // to tell whether a rule hashing on the id passed it by (TARGETING_KEY_MISSING).
    const id = attributes.id;
    const unitHasId = !(id === undefined || id === null || id === '');
    const answers: FlagAnswer[] = [];
    const exposures: PipelineRecord[] = [];
    const served: { flag: string; variation: string | null }[] = [];
    let sent: ReturnType<typeof exposureAttributes> | null = null;
    for (const key of keys) {
      const result = evaluateFlag(view.ruleset, key, context, unitHasId ? undefined : EXPLAIN);
      const answer = answerFor(key, result, view.ruleset.flags[key], view.ruleset, unitHasId);
      answers.push(answer);
      // An error answer leaves the provider serving the caller's default.
      served.push({ flag: key, variation: answer.ok ? servedVariation(result) : null });
      const exp = result.experiment;
      if (exp?.inExperiment === true) {
        sent ??= exposureAttributes(unit.attributes, UNIT_ID_ATTRIBUTE);
        exposures.push(
          deps.exposure(who, at, { unitId: exp.hashValue, experiment: exp.key, variation: exp.variationKey, flag: key, hashAttribute: exp.hashAttribute, ...(sent === undefined ? {} : { attributes: sent }) }),
        );
      }
    }
    // The evaluations answered, counted in the same write as the exposures.
    if (count !== false) {
      exposures.push(...serverEvaluationCounts(who, at, deps.newId, served, count.app));
    }
    await Promise.all([saveStickySnapshot(deps.sticky, who.projectId, snapshot, deps.logger), deps.logExposures(exposures)]);
    noteEvaluations(c, keys.length);
    return answers;
  };

  app.post('/ofrep/v1/evaluate/flags/:key', async (c) => {
    const key = c.req.param('key');
    try {
      const who = await callerOf(c, deps);
      // The application the answer counts under (X-XP-App): checked before anything is counted.
      const named = remoteEvaluationApp(c);
      if (named.problem !== undefined) {
        throw new OfrepFailure(400, OfrepErrorCode.General, named.problem);
      }
      const unit = parseOfrepBody(await bodyOf(c, deps));
      const shown = key.slice(0, 64);
      if (!isKey(key)) {
        throw new OfrepFailure(404, OfrepErrorCode.FlagNotFound, `flag "${shown}" not found`);
      }
      let served: RulesetView;
      try {
        served = await deps.current(who);
      } catch (error) {
        if (error instanceof AppError && error.code === AppErrorCode.NotFound) {
          throw new OfrepFailure(404, OfrepErrorCode.FlagNotFound, `flag "${key}" not found: no ruleset has been published for this environment yet`);
        }
        throw error;
      }
      if (!Object.hasOwn(served.ruleset.flags, key)) {
        // Asked for all the same: counted with the caller's default served, so that code still asking for a deleted flag shows.
        await deps.logExposures(serverEvaluationCounts(who, deps.now(), deps.newId, [{ flag: key, variation: null }], named.app));
        throw new OfrepFailure(404, OfrepErrorCode.FlagNotFound, `flag "${key}" not found`);
      }
      const [answer] = await evaluate(c, who, unit, served, [key], { app: named.app });
      c.header('Cache-Control', 'no-store');
      return answer!.ok ? c.json(answer!.body) : c.json(answer!.body, answer!.status);
    } catch (error) {
      return failure(c, error, deps.logger, key);
    }
  });

  app.post('/ofrep/v1/evaluate/flags', async (c) => {
    try {
      const who = await callerOf(c, deps);
      const unit = parseOfrepBody(await bodyOf(c, deps));
      let served: RulesetView | undefined;
      try {
        served = await deps.current(who);
      } catch (error) {
        // Nothing published yet: an environment without flags.
        if (!(error instanceof AppError && error.code === AppErrorCode.NotFound)) {
          throw error;
        }
      }
      const answers = served === undefined ? [] : await evaluate(c, who, unit, served, Object.keys(served.ruleset.flags), false);
      const json = JSON.stringify({ flags: answers.map((a) => a.body) });
      const etag = etagOf(json);
      c.header('ETag', etag);
      c.header('Cache-Control', 'no-store');
      if (etagMatches(c.req.header('if-none-match'), etag)) {
        return c.body(null, 304);
      }
      return c.body(json, 200, { 'Content-Type': 'application/json; charset=utf-8' });
    } catch (error) {
      return failure(c, error, deps.logger, undefined);
    }
  });
}
