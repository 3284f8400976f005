/** Table types of the control plane's tables (migration 001). */
export type ConfigTables = {};
