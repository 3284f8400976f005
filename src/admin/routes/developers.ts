/** Admin API routes: tenants, users, access tokens, accounts, account users, applications, keys, referrer filters. */
import type { AdminRoute } from '../route.js';

export const DEVELOPER_ROUTES: readonly AdminRoute[] = [];
