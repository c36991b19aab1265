export { ApiError, XpApiClient } from './client.js';
export type { ApiErrorBody, AuditEntry, ChangeRequest, ClientOptions, DefinitionKinds, DefinitionPath, Page, Project, Stored, StoredEnvironment, User } from './client.js';
