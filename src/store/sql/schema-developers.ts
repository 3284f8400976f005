/** Table types of users, account users (migration 005). */
// biome-ignore lint/complexity/noBannedTypes: filled in with the migration's tables
export type DeveloperTables = {};
