/** @xp/sdk/openfeature — xp as an OpenFeature server provider. */
export { XpServerProvider } from './openfeature/server-provider.js';
export { resolveFlag, toUser } from './openfeature/mapping.js';
export type { ProviderSource } from './openfeature/provider-base.js';
