/** Admin API routes: services, metrics, mapping rules, policies, plans, limits, pricing, features, service tokens, provider key. */
import type { AdminRoute } from '../route.js';

export const CATALOG_ROUTES: readonly AdminRoute[] = [];
