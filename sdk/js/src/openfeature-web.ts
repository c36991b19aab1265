/** @xp/sdk/openfeature/web — xp as an OpenFeature web provider (static context). */
export { XpWebProvider } from './openfeature/web-provider.js';
export type { ProviderSource } from './openfeature/provider-base.js';
