/** Table types of webhook endpoints and deliveries (migration 006). */
// biome-ignore lint/complexity/noBannedTypes: filled in with the migration's tables
export type EventTables = {};
