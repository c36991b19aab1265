/**
 * The Content-Security-Policy of the console's pages, wherever they are served: the local console
 * server (cloud/src/local/console-server.ts), the console's CloudFront distribution
 * (cloud/src/infra/console-stack.ts), the API's Swagger UI (/docs) and the desktop app's
 * xp-app://console origin (desktop/src/main/app-protocol.ts). Scripts, connections and form posts
 * only to the page's own origin, inline styles allowed, no framing, plugins or <base>.
 */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
