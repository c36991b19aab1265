/** Language server for flag keys in code: hovers, code lenses, diagnostics. */
export const PACKAGE_NAME = '@xp/language-server';
