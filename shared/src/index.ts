export * from './model/index.js';
export * from './eval/index.js';
export * from './stats/index.js';
export * from './api/index.js';
export * from './random.js';
export * from './text.js';
export * from './sso-code.js';
