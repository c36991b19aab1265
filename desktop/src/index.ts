/** Analyst console: Electron main, preload and React renderer land here. */
export const PACKAGE_NAME = '@xp/desktop';
