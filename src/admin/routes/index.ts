/** Every admin API operation, in one explicit list: registered by the server, documented by OpenAPI. */
import type { AdminRoute } from '../route.js';
import { CATALOG_ROUTES } from './catalog.js';
import { applyTenantConfig, exportTenantConfig } from './config.js';
import { DEVELOPER_ROUTES } from './developers.js';
import { EVENT_ROUTES } from './events.js';
import { getGatewaySnapshot } from './gateway.js';
import { clearServiceErrors, listServiceErrors } from './service-errors.js';

export const ADMIN_ROUTES: readonly AdminRoute[] = [
  ...CATALOG_ROUTES,
  ...DEVELOPER_ROUTES,
  ...EVENT_ROUTES,
  listServiceErrors,
  clearServiceErrors,
  exportTenantConfig,
  applyTenantConfig,
  getGatewaySnapshot,
];
