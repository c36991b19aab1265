import type { Role } from '@xp/shared';
import type { Database } from '../store/db.js';
import type { RulesetStore } from '../store/ruleset-store.js';

/** The authenticated caller of a service method, and the client they came through. */
export interface Actor {
  readonly userId: string;
  readonly orgId: string;
  readonly email: string;
  readonly role: Role;
  /** console, vscode, cli, api, sdk… — recorded in the audit log. */
  readonly client: string;
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
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
