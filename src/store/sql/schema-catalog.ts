/** Table types of plan features, policies (migration 004). */
// biome-ignore lint/complexity/noBannedTypes: filled in with the migration's tables
export type CatalogTables = {};
