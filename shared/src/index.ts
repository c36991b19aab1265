export const PACKAGE_NAME = '@xp/shared';
