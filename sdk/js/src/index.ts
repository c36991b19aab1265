/** @xp/sdk — the xp JavaScript SDK for Node and browsers (file bootstrap: `@xp/sdk/node`). */
export { ExperimentationClient } from './client.js';
export type { JsonDefault, JsonValue } from './client.js';
export { HttpError, NetworkError, RulesetError, XpError, XpErrorCode } from './errors.js';
export { ClientStatus, SdkErrorCode } from './types.js';
export type { RulesetDocument } from './ruleset-state.js';
export type {
  ChangeListener,
  ClientOptions,
  ClientStats,
  EvaluateOptions,
  EvaluationDetails,
  Exposure,
  ExposureListener,
  ExposureOptions,
  FetchLike,
  FlushResult,
  Logger,
  PreloadableStickyBucketStore,
  ReadyResult,
  RulesetChange,
  RulesetSnapshot,
  SnapshotOptions,
  User,
  UserContext,
} from './types.js';
export { MemoryStickyBucketStore, stickyKey } from './stores/memory-store.js';
export { LocalStorageStickyBucketStore } from './stores/local-storage-store.js';
export type { StorageLike } from './stores/local-storage-store.js';
export { CookieStickyBucketStore } from './stores/cookie-store.js';
export type { CookieJar, CookieStoreOptions } from './stores/cookie-store.js';
export { RedisStickyBucketStore } from './stores/redis-store.js';
export type { RedisLikeClient, RedisStoreOptions } from './stores/redis-store.js';
export { ErrorCode, Reason, SkipReason } from '@xp/shared/eval';
export type { EvaluationResult, ExperimentResult, StickyBucketStore, TraceStep } from '@xp/shared/eval';
