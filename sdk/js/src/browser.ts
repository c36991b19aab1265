/** @xp/sdk/browser — the browser entry: the client and the browser sticky-bucket stores, nothing Node-only. */
export { ExperimentationClient } from './client.js';
export type { JsonValue } from './client.js';
export { XpError, XpErrorCode } from './errors.js';
export { ClientStatus, SdkErrorCode } from './types.js';
export type {
  ChangeListener,
  ClientOptions,
  ClientStats,
  EvaluateOptions,
  EvaluationDetails,
  Exposure,
  ExposureListener,
  ExposureOptions,
  FlushResult,
  Logger,
  ReadyResult,
  RulesetChange,
  RulesetSnapshot,
  SnapshotOptions,
  User,
  UserContext,
} from './types.js';
export type { RulesetDocument } from './ruleset-state.js';
export type { TraceStep } from '@xp/shared/eval';
export { MemoryStickyBucketStore } from './stores/memory-store.js';
export { LocalStorageStickyBucketStore } from './stores/local-storage-store.js';
export { CookieStickyBucketStore } from './stores/cookie-store.js';
