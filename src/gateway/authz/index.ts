/**
 * Picks each service's authorizer: its remote backend when it has one, else by `authorization.mode`.
 * Store failures (a rejected decision) become the service's `on_store_failure` answer.
 */
import type { BackendDeps } from '../../backend/deps.js';
import type { GatewayService } from '../service.js';
import { createStrictAuthorizer } from './strict.js';
import type { AuthCall, Authorizer, Verdict } from './types.js';

export interface AuthorizerSet {
  /** Decides one call with the service's authorizer. Never rejects: store failures become verdicts. */
  decide(call: AuthCall): Verdict | Promise<Verdict>;
  close(): Promise<void>;
}

export interface AuthorizerOptions {
  readonly deps: BackendDeps;
  readonly onStoreError?: (err: unknown, svc: GatewayService) => void;
}

const UNAVAILABLE: Verdict = Object.freeze({ ok: false, code: 'service_unavailable' });

export function createAuthorizers(opts: AuthorizerOptions): AuthorizerSet {
  const strict = createStrictAuthorizer(opts.deps);
  const pick = (_svc: GatewayService): Authorizer => strict;
  return {
    decide(call) {
      const v = pick(call.svc).decide(call);
      if (!(v instanceof Promise)) return v;
      return v.catch((err: unknown) => {
        opts.onStoreError?.(err, call.svc);
        return UNAVAILABLE;
      });
    },
    async close() {
      await strict.close();
    },
  };
}
