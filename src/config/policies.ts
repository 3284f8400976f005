/**
 * Per-policy configuration checks of a service's policy chain, run when a config is applied (a bad
 * policy fails `apply`, never a request). Each fault's path is relative to the chain.
 */
import type { PolicyDoc } from './schema.js';

export interface PolicyFault {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Placeholder until the policy schemas land (the gateway issue's policy chain work replaces this). */
export function checkPolicies(_chain: readonly PolicyDoc[]): PolicyFault[] {
  return [];
}
