/**
 * How function logs reach the shared log groups (`<prefix>/errors`, `<prefix>/services`): shared by
 * the CDK stack that creates the subscription filters and the forwarder that serves them.
 */

/** Environment variable with the routes as JSON: `{ "errors": "/experimentation-platform/errors", … }`. */
export const LOG_ROUTES_VARIABLE = 'XP_LOG_ROUTES';

/** The subscription filter name for `route` on `functionName`'s log group; the forwarder routes by it. */
export function subscriptionFilterName(route: string, functionName: string): string {
  return `xp-${route}-${functionName}`;
}
