/** Table types of the usage tier's tables: usage log, counter snapshots (migration 002). */
export type UsageTables = {};
