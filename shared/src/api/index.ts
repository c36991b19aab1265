export { ApiError, DeliveryStatus, WebhookFormat, XpApiClient } from './client.js';
export { FeedState, followChanges, parseSse } from './change-feed.js';
export type { ChangeFeed, ChangeFeedOptions, ChangeNotice } from './change-feed.js';
export type { ApiErrorBody, AuditEntry, ChangeRequest, ClientOptions, DefinitionKinds, DefinitionPath, Page, Project, Stored, StoredEnvironment, User } from './client.js';
export type { CodeRef, CodeRefsUpload, CodeRefsUploadResult, ExperimentResultsSummary, StoredCodeRef } from './client.js';
export type { AccessTokenView, BreakdownQuery, ComparisonView, ExperimentResultsView, HealthView, MetricResultView, ResultsBreakdownView, ResultsQuery, RolesView, SdkKeyView, StatsErrorView } from './client.js';
export type { EventSearchQuery, ExplorerEventView, UnitTimelineView } from './client.js';
export type { Webhook, WebhookCreate, WebhookDelivery, WebhookPatch, WebhookWithSecret } from './client.js';
