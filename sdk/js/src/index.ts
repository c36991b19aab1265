/** JavaScript SDK: ExperimentationClient and the OpenFeature provider. */
export const PACKAGE_NAME = '@xp/sdk';
