/** Table type additions of migration 007 (merged into 001's table types by module augmentation). */
import type { Generated } from 'kysely';

declare module './schema-config.js' {
  interface ServicesTable {
    /** JSON object `ServiceGateway`: the service's data-plane settings beyond hosts and upstream. */
    gateway: Generated<string>;
  }
}
