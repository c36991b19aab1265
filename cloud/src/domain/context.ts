import type { Role } from '@xp/shared';
import type { PlatformKey } from '../auth/platform-key.js';
import type { SsoConfig } from '../auth/sso-config.js';
import type { WebhookSender } from './webhook-http.js';
import type { Database } from '../store/db.js';
import type { EventSink } from '../store/event-sink.js';
import type { PublishedRuleset, RulesetStore } from '../store/ruleset-store.js';

/**
 * The credential an actor acts with, recorded in the audit log: a console or CLI session (its
 * `sessions.id`), a personal access token (its id and display prefix, `xpp_ab12cd34`), or one of the
 * platform's own actors (`system`, id its name: guardrails, bootstrap, alarm-rollback). Never a
 * secret or a hash that could stand for one.
 */
export interface ActorCredential {
  readonly kind: 'session' | 'token' | 'system';
  readonly id: string;
  /** A token's display prefix as stored (`access_tokens.token_prefix`); absent for sessions and system actors. */
  readonly prefix?: string | undefined;
}

/** The authenticated caller of a service method, and the client they came through. */
export interface Actor {
  readonly userId: string;
  readonly orgId: string;
  readonly email: string;
  /** The role the request acts with: the user's, or a token's lower one. */
  readonly role: Role;
  /** console, vscode, cli, api, sdk… — recorded in the audit log. */
  readonly client: string;
  /** The project ids a personal access token is limited to; undefined: every project. */
  readonly projectIds?: ReadonlySet<string> | undefined;
  /** The role a personal access token was given (the actor's role is the lower of it and the user's). */
  readonly tokenRole?: Role | undefined;
  /**
   * The user's roles in single projects, by project key, in place of their organisation role there
   * (never for an owner). Undefined when the user has none: `role` holds everywhere. The API applies
   * them to requests naming a project (`actorInProject`), so `role` is then the role in that project.
   */
  readonly projectRoles?: ReadonlyMap<string, Role> | undefined;
  /** The project whose project role `role` is (set by `actorInProject`), named when it refuses something. */
  readonly roleProject?: string | undefined;
  /** A personal access token limited by a role or projects: its id. It manages only itself and the tokens made with it. */
  readonly limitedTokenId?: string | undefined;
  /**
   * The session or token the request was made with (set by `authenticate` and at login), or a system
   * actor's; recorded in every audit entry the actor writes. Absent: unknown (recorded as null).
   */
  readonly credential?: ActorCredential | undefined;
  /** The client address (cloud/src/http/client-ip.ts), recorded in the audit log; null or absent when unknown. */
  readonly ip?: string | null | undefined;
}

/** Structured logging; implementations must never receive secrets (callers redact). */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Everything services need from the outside world, injected so tests control time and ids. */
export interface Deps {
  readonly db: Database;
  readonly rulesets: RulesetStore;
  readonly now: () => Date;
  readonly newId: () => string;
  readonly logger: Logger;
  /** Where SDK events go (Kinesis); the SDK endpoints are served only when it is set. */
  readonly events?: EventSink;
  /** Told of every ruleset written to the store, so SDK streams push it at once. */
  readonly notifier?: RulesetNotifier;
  /**
   * Longest a results request spends building a dimension's rollups, in ms (the API Lambda's 29 s);
   * beyond it the request scans and the aggregator builds them later. No limit when absent.
   */
  readonly dimensionBuildTimeoutMs?: number;
  /** Derives webhook signing secrets and encrypts webhook URLs; without it webhooks are unavailable (503). */
  readonly platformKey?: PlatformKey;
  /** Single sign-on with OpenID Connect (XP_SSO_*, auth/sso-config.ts); off when absent. */
  readonly sso?: SsoConfig | undefined;
  /** How requests to the SSO identity provider leave (AWS: through the SSO egress function); default: fetch from this process. */
  readonly ssoFetch?: typeof fetch | undefined;
  /** How webhook requests leave (the API's test sends, the dispatcher); default: HTTP from this process. */
  readonly webhookSender?: WebhookSender;
}

/** In-process publish/subscribe of published rulesets, by project and environment. */
export interface RulesetNotifier {
  /** Called after each successful put; must not throw. */
  published(ruleset: PublishedRuleset): void;
  /** Calls `listener` for each later publish of that environment; returns the unsubscribe function. */
  subscribe(projectId: string, environment: string, listener: (ruleset: PublishedRuleset) => void): () => void;
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
