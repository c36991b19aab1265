/** Thin VS Code client for the xp language server. */
export const PACKAGE_NAME = '@xp/vscode-extension';
