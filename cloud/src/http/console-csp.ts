/**
 * The Content-Security-Policy of the web console's pages: sent by the local console server
 * (src/local/console-server.ts) and by the console's CloudFront distribution (src/infra/console-stack.ts),
 * so both deployments hold the console to the same policy: scripts, connections and form posts only
 * to the console's own origin, inline styles allowed, no framing, plugins or <base>.
 */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
