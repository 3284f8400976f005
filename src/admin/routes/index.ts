/** Every admin API operation, in one explicit list: registered by the server, documented by OpenAPI. */
import type { AdminRoute } from '../route.js';
import { clearServiceErrors, listServiceErrors } from './service-errors.js';

export const ADMIN_ROUTES: readonly AdminRoute[] = [listServiceErrors, clearServiceErrors];
