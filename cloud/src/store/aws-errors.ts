import { AppError, AppErrorCode } from '../errors.js';

/** Throttling, 5xx, timeouts and network failures (no HTTP status at all) are worth retrying; other 4xx are not. */
export function isRetryableAwsError(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  const name = error instanceof Error ? error.name : '';
  if (/Throttl|LimitExceeded|ThroughputExceeded|Timeout|Abort/.test(name)) {
    return true;
  }
  return status === undefined || status >= 500;
}

/** An AWS SDK failure as an AppError: retryable ones are UNAVAILABLE ("retry later"), the rest INTERNAL. */
export function awsAppError(error: unknown, service: string): AppError {
  if (error instanceof AppError) {
    return error;
  }
  return isRetryableAwsError(error)
    ? new AppError(AppErrorCode.Unavailable, `${service} is unavailable; retry later`, undefined, { cause: error })
    : new AppError(AppErrorCode.Internal, `${service} request failed`, undefined, { cause: error });
}

/** The region from the standard AWS environment variables, if set. */
export function envRegion(): string | undefined {
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  return region === undefined || region === '' ? undefined : region;
}
