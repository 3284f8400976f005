/** Kysely table types of the SQL store: the control plane's tables and the usage tier's tables. */
import type { ConfigTables } from './schema-config.js';
import type { UsageTables } from './schema-usage.js';

export interface DB extends ConfigTables, UsageTables {}
