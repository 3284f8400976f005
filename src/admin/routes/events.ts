/** Admin API routes: webhooks, deliveries, audit log. */
import type { AdminRoute } from '../route.js';
import { AUDIT_LOG_ROUTES } from './events/audit-log.js';
import { DELIVERY_ROUTES } from './events/deliveries.js';
import { WEBHOOK_ROUTES } from './events/webhooks.js';

export const EVENT_ROUTES: readonly AdminRoute[] = [
  ...WEBHOOK_ROUTES,
  ...DELIVERY_ROUTES,
  ...AUDIT_LOG_ROUTES,
];
