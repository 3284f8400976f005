/**
 * The ordered list of migrations. Each file exports `(dialect) => Migration`; names sort in apply order.
 * Add a file, add it here; never edit one that has shipped.
 */
import type { Migration } from 'kysely';
import type { Dialect } from '../db.js';
import { m001Config } from './001_config.js';
import { m002Usage } from './002_usage.js';
import { m003Admin } from './003_admin.js';
import { m004Catalog } from './004_catalog.js';
import { m005Developers } from './005_developers.js';
import { m006Events } from './006_events.js';
import { m007Gateway } from './007_gateway.js';

export function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '001_config': m001Config(dialect),
    '002_usage': m002Usage(dialect),
    '003_admin': m003Admin(dialect),
    '004_catalog': m004Catalog(dialect),
    '005_developers': m005Developers(dialect),
    '006_events': m006Events(dialect),
    '007_gateway': m007Gateway(dialect),
  };
}
