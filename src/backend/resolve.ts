/** Credential and service resolution shared by the auth endpoints and the report endpoint (3scale §2.2 steps 2 and 5). */
import type { AppView, PlanView, ServiceView, TenantView } from '../domain/model.js';
import type { AuthView } from '../store/ports.js';
import { type BackendError, backendError } from './errors.js';
import type { ParamMap } from './params.js';
import { driveAsync, type Steps } from './steps.js';

type Answer<T> = T | null | Promise<T | null>;

/**
 * Auth view lookups for steps: the synchronous peek's answer when it has one (null included), else the
 * async lookup's promise.
 */
export const lookup = {
  tenantByProviderKey(view: AuthView, providerKey: string): Answer<TenantView> {
    const v = view.peek?.tenantByProviderKey(providerKey);
    return v !== undefined ? v : view.tenantByProviderKey(providerKey);
  },
  providerKeyForServiceToken(view: AuthView, token: string, serviceId: string): Answer<string> {
    const v = view.peek?.providerKeyForServiceToken(token, serviceId);
    return v !== undefined ? v : view.providerKeyForServiceToken(token, serviceId);
  },
  service(view: AuthView, serviceId: string): Answer<ServiceView> {
    const v = view.peek?.service(serviceId);
    return v !== undefined ? v : view.service(serviceId);
  },
  plan(view: AuthView, serviceId: string, planId: string): Answer<PlanView> {
    const v = view.peek?.plan(serviceId, planId);
    return v !== undefined ? v : view.plan(serviceId, planId);
  },
  application(view: AuthView, serviceId: string, appId: string): Answer<AppView> {
    const v = view.peek?.application(serviceId, appId);
    return v !== undefined ? v : view.application(serviceId, appId);
  },
  appIdByUserKey(view: AuthView, serviceId: string, userKey: string): Answer<string> {
    const v = view.peek?.appIdByUserKey(serviceId, userKey);
    return v !== undefined ? v : view.appIdByUserKey(serviceId, userKey);
  },
};

/** A string parameter trimmed, absent when not a string or blank (3scale's normalization). */
export function idParam(p: ParamMap, key: string): string | undefined {
  const v = p[key];
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

/** Outcome of provider-key resolution. */
export type ProviderKeyResult =
  | { readonly ok: true; readonly providerKey: string }
  | { readonly ok: false; readonly error: BackendError };

/** `provider_key`, else the provider key of a valid `service_token` + `service_id` pair. */
export function resolveProviderKey(view: AuthView, p: ParamMap): Promise<ProviderKeyResult> {
  return driveAsync(providerKeySteps(view, p));
}

/** resolveProviderKey as steps (see steps.ts). */
export function* providerKeySteps(view: AuthView, p: ParamMap): Steps<ProviderKeyResult> {
  const pk = idParam(p, 'provider_key');
  if (pk !== undefined) return { ok: true, providerKey: pk };
  const token = idParam(p, 'service_token');
  const sid = idParam(p, 'service_id');
  if (token !== undefined && sid !== undefined) {
    const found = (yield lookup.providerKeyForServiceToken(view, token, sid)) as string | null;
    if (found !== null) return { ok: true, providerKey: found };
  }
  if (token === undefined)
    return { ok: false, error: backendError('provider_key_or_service_token_required') };
  if (sid === undefined) return { ok: false, error: backendError('service_id_missing') };
  return { ok: false, error: backendError('service_token_invalid', token, sid) };
}

export type ServiceResult =
  | { readonly ok: true; readonly service: ServiceView }
  | { readonly ok: false; readonly error: BackendError };

/**
 * The service named by `serviceId`, or the provider's default one; a service of another provider is
 * `service_id_invalid` unless the key has no default service at all (`provider_key_invalid`).
 */
export function loadService(
  view: AuthView,
  providerKey: string,
  serviceId: string | undefined,
): Promise<ServiceResult> {
  return driveAsync(serviceSteps(view, providerKey, serviceId));
}

/** loadService as steps (see steps.ts). */
export function* serviceSteps(
  view: AuthView,
  providerKey: string,
  serviceId: string | undefined,
): Steps<ServiceResult> {
  const tenant = (yield lookup.tenantByProviderKey(view, providerKey)) as TenantView | null;
  if (serviceId === undefined) {
    const def = tenant?.defaultServiceId ?? null;
    const svc = def === null ? null : ((yield lookup.service(view, def)) as ServiceView | null);
    if (svc === null || svc.tenantId !== tenant?.id) {
      return { ok: false, error: backendError('provider_key_invalid_or_service_missing', providerKey) };
    }
    return { ok: true, service: svc };
  }
  const svc = (yield lookup.service(view, serviceId)) as ServiceView | null;
  if (svc === null) return { ok: false, error: backendError('service_id_invalid', serviceId) };
  if (tenant === null || svc.tenantId !== tenant.id) {
    return tenant?.defaultServiceId
      ? { ok: false, error: backendError('service_id_invalid', serviceId) }
      : { ok: false, error: backendError('provider_key_invalid', providerKey) };
  }
  return { ok: true, service: svc };
}
