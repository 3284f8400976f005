/** Admin API routes: webhooks, deliveries, audit log. */
import type { AdminRoute } from '../route.js';

export const EVENT_ROUTES: readonly AdminRoute[] = [];
