/** Credential and service resolution shared by the auth endpoints and the report endpoint (3scale §2.2 steps 2 and 5). */
import type { ServiceView } from '../domain/model.js';
import type { AuthView } from '../store/ports.js';
import { type BackendError, backendError } from './errors.js';
import type { ParamMap } from './params.js';

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
export async function resolveProviderKey(view: AuthView, p: ParamMap): Promise<ProviderKeyResult> {
  const pk = idParam(p, 'provider_key');
  if (pk !== undefined) return { ok: true, providerKey: pk };
  const token = idParam(p, 'service_token');
  const sid = idParam(p, 'service_id');
  if (token !== undefined && sid !== undefined) {
    const found = await view.providerKeyForServiceToken(token, sid);
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
export async function loadService(
  view: AuthView,
  providerKey: string,
  serviceId: string | undefined,
): Promise<ServiceResult> {
  const tenant = await view.tenantByProviderKey(providerKey);
  if (serviceId === undefined) {
    const def = tenant?.defaultServiceId ?? null;
    const svc = def === null ? null : await view.service(def);
    if (svc === null || svc.tenantId !== tenant?.id) {
      return { ok: false, error: backendError('provider_key_invalid_or_service_missing', providerKey) };
    }
    return { ok: true, service: svc };
  }
  const svc = await view.service(serviceId);
  if (svc === null) return { ok: false, error: backendError('service_id_invalid', serviceId) };
  if (tenant === null || svc.tenantId !== tenant.id) {
    return tenant?.defaultServiceId
      ? { ok: false, error: backendError('service_id_invalid', serviceId) }
      : { ok: false, error: backendError('provider_key_invalid', providerKey) };
  }
  return { ok: true, service: svc };
}
