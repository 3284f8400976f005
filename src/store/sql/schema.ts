/** Kysely table types of the SQL store: control plane, usage tier and admin API tables. */
import type { AdminTables } from './schema-admin.js';
import type { CatalogTables } from './schema-catalog.js';
import type { ConfigTables } from './schema-config.js';
import type { DeveloperTables } from './schema-developers.js';
import type { EventTables } from './schema-events.js';
import type { UsageTables } from './schema-usage.js';
import './schema-gateway.js';

export interface DB
  extends ConfigTables,
    UsageTables,
    AdminTables,
    CatalogTables,
    DeveloperTables,
    EventTables {}
