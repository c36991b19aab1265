/**
 * The backend's error hierarchy. Business code throws these; the HTTP edge maps each `code` to a
 * status and `{ error: { code, message, details? } }` in one place. Messages are safe to show callers.
 */

/** Machine-readable error codes, each with the HTTP status it maps to. */
export const AppErrorCode = {
  /** The request body, query or path is malformed or fails validation (400). */
  Validation: 'VALIDATION_FAILED',
  /** The body is not valid JSON (400). */
  MalformedJson: 'MALFORMED_JSON',
  /** The body exceeds the size limit (413). */
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  /** The request headers exceed the HTTP server's limit (431). */
  HeadersTooLarge: 'HEADERS_TOO_LARGE',
  /** No or invalid credentials (401). */
  Unauthenticated: 'UNAUTHENTICATED',
  /** Authenticated, but the role does not allow this (403). */
  Forbidden: 'FORBIDDEN',
  /** The change needs an approved change request in this environment (403). */
  ApprovalRequired: 'APPROVAL_REQUIRED',
  /** Login with a password an administrator set: the user must choose a new one, sent with the login (403). */
  PasswordChangeRequired: 'PASSWORD_CHANGE_REQUIRED',
  /** Login with the right password to an account an administrator disabled (403); never said for a wrong password. */
  AccountDisabled: 'ACCOUNT_DISABLED',
  /** Login with the right password while the organisation signs in with SSO (XP_SSO_ENFORCED) and the user is not an owner (403). */
  SsoRequired: 'SSO_REQUIRED',
  /** Single sign-on is not configured on this installation (404). */
  SsoDisabled: 'SSO_DISABLED',
  /** The resource does not exist or is not visible to the caller (404). */
  NotFound: 'NOT_FOUND',
  /** The path exists, but not with this method (405, with Allow). */
  MethodNotAllowed: 'METHOD_NOT_ALLOWED',
  /**
   * This deployment does not serve `GET /sdk/v1/stream` (behind API Gateway, which buffers
   * responses): a permanent answer, not an outage; SDKs poll `GET /sdk/v1/ruleset` instead (404).
   */
  StreamNotAvailable: 'STREAM_NOT_AVAILABLE',
  /** A resource with this key already exists (409). */
  AlreadyExists: 'ALREADY_EXISTS',
  /** The resource changed since the caller read it: version / ETag mismatch (409). */
  Conflict: 'VERSION_CONFLICT',
  /** The operation is not allowed in the resource's current state (409). */
  InvalidState: 'INVALID_STATE',
  /** The precondition header is required but missing (428). */
  PreconditionRequired: 'PRECONDITION_REQUIRED',
  /** Too many attempts; retry later (429). */
  RateLimited: 'RATE_LIMITED',
  /** A dependency is unavailable; retry later (503). */
  Unavailable: 'UNAVAILABLE',
  /** Anything unexpected (500); details are logged, never returned. */
  Internal: 'INTERNAL',
} as const;
export type AppErrorCode = (typeof AppErrorCode)[keyof typeof AppErrorCode];

export const STATUS_OF: Readonly<Record<AppErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  MALFORMED_JSON: 400,
  PAYLOAD_TOO_LARGE: 413,
  HEADERS_TOO_LARGE: 431,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  APPROVAL_REQUIRED: 403,
  PASSWORD_CHANGE_REQUIRED: 403,
  ACCOUNT_DISABLED: 403,
  SSO_REQUIRED: 403,
  SSO_DISABLED: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  STREAM_NOT_AVAILABLE: 404,
  ALREADY_EXISTS: 409,
  VERSION_CONFLICT: 409,
  INVALID_STATE: 409,
  PRECONDITION_REQUIRED: 428,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export class AppError extends Error {
  constructor(
    readonly code: AppErrorCode,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
  }

  get status(): number {
    return STATUS_OF[this.code];
  }
}

export const notFound = (what: string): AppError => new AppError(AppErrorCode.NotFound, `${what} not found`);
export const forbidden = (message = 'your role does not allow this'): AppError => new AppError(AppErrorCode.Forbidden, message);
export const conflict = (message: string, details?: unknown): AppError => new AppError(AppErrorCode.Conflict, message, details);
export const invalid = (message: string, details?: unknown): AppError => new AppError(AppErrorCode.Validation, message, details);

/**
 * 409 for a write whose expected version is not the stored one: changed by someone else since the
 * caller read it, or (a version from the future) never read at all. `details.currentVersion` either way.
 */
export const versionConflict = (what: string, current: number, sent: number): AppError =>
  conflict(
    sent < current ? `${what} was changed by someone else (version ${String(current)}, you sent ${String(sent)})` : `${what} is at version ${String(current)}, not ${String(sent)}: read it again and resend`,
    { currentVersion: current },
  );
