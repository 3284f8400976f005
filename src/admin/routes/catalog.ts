/** Admin API routes: services, metrics, mapping rules, policies, plans, limits, pricing, features, service tokens, provider key. */
import type { AdminRoute } from '../route.js';
import { CREDENTIAL_ROUTES } from './catalog/credentials.js';
import { FEATURE_ROUTES } from './catalog/features.js';
import { MAPPING_RULE_ROUTES } from './catalog/mapping-rules.js';
import { METRIC_ROUTES } from './catalog/metrics.js';
import { PLAN_RULE_ROUTES } from './catalog/plan-rules.js';
import { PLAN_ROUTES } from './catalog/plans.js';
import { POLICY_ROUTES } from './catalog/policies.js';
import { SERVICE_ROUTES } from './catalog/services.js';

export const CATALOG_ROUTES: readonly AdminRoute[] = [
  ...SERVICE_ROUTES,
  ...METRIC_ROUTES,
  ...MAPPING_RULE_ROUTES,
  ...POLICY_ROUTES,
  ...PLAN_ROUTES,
  ...PLAN_RULE_ROUTES,
  ...FEATURE_ROUTES,
  ...CREDENTIAL_ROUTES,
];
