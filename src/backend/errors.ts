/**
 * The Service Management API error catalogue (3scale §6): one table of code → HTTP status and message.
 * `deny` codes are never sent as `<error>`: they become a 409 status body's `<reason>`.
 */

/** How an error reaches the caller. */
export type ErrorKind = 'error' | 'deny' | 'async';

interface ErrorDef {
  readonly status: number;
  readonly kind: ErrorKind;
  /** Builds the message from the code's arguments (missing arguments select the "missing" variant). */
  readonly message: (a?: string, b?: string) => string;
}

const q = (s: string | undefined): string => `"${s ?? ''}"`;

/** Every code the backend can answer or log, with its status and message builder. */
export const ERROR_CATALOGUE = {
  provider_key_invalid: { status: 403, kind: 'error', message: (k) => `provider key ${q(k)} is invalid` },
  provider_key_invalid_or_service_missing: {
    status: 403,
    kind: 'error',
    message: (k) => `provider key ${q(k)} invalid and/or service ID missing`,
  },
  provider_key_or_service_token_required: {
    status: 403,
    kind: 'error',
    message: () => 'Provider key or service token are required',
  },
  service_token_invalid: {
    status: 403,
    kind: 'error',
    message: (t, s) => `service token ${q(t)} or service id ${q(s)} is invalid`,
  },
  service_id_invalid: { status: 403, kind: 'error', message: (s) => `service id ${q(s)} is invalid` },
  service_id_missing: { status: 422, kind: 'error', message: () => 'Service ID is missing' },
  application_not_found: {
    status: 404,
    kind: 'error',
    message: (a) =>
      a === undefined ? 'application id is missing' : `application with id="${a}" was not found`,
  },
  user_key_invalid: {
    status: 403,
    kind: 'error',
    message: (u) => (u === undefined ? 'user key is missing' : `user key ${q(u)} is invalid`),
  },
  authentication_error: {
    status: 403,
    kind: 'error',
    message: () => 'either app_id or user_key is allowed, not both',
  },
  metric_invalid: { status: 404, kind: 'error', message: (m) => `metric ${q(m)} is invalid` },
  usage_value_invalid: {
    status: 403,
    kind: 'error',
    message: (m, v) =>
      v === undefined
        ? `usage value for metric ${q(m)} can not be empty`
        : `usage value ${q(v)} for metric ${q(m)} is invalid`,
  },
  not_valid_data: { status: 422, kind: 'error', message: () => 'all data must be valid UTF8' },
  bad_request: {
    status: 400,
    kind: 'error',
    message: (detail) =>
      detail ?? 'request contains syntax errors, should not be repeated without modification',
  },
  content_type_invalid: { status: 400, kind: 'error', message: (t) => `invalid Content-Type: ${t ?? ''}` },
  transactions_is_blank: { status: 400, kind: 'error', message: () => 'transactions parameter is blank' },
  transactions_format_invalid: {
    status: 400,
    kind: 'error',
    message: () => 'transactions format is invalid',
  },
  transactions_has_nil_transaction: {
    status: 400,
    kind: 'error',
    message: () => 'transactions has a nil transaction',
  },
  end_users_no_longer_supported: {
    status: 400,
    kind: 'error',
    message: () => 'End-users are no longer supported, do not specify the user_id parameter',
  },
  application_key_invalid: {
    status: 409,
    kind: 'deny',
    message: (k) =>
      k === undefined || k === '' ? 'application key is missing' : `application key ${q(k)} is invalid`,
  },
  referrer_not_allowed: {
    status: 409,
    kind: 'deny',
    message: (r) => (r === undefined ? 'referrer is missing' : `referrer ${q(r)} is not allowed`),
  },
  application_not_active: { status: 409, kind: 'deny', message: () => 'application is not active' },
  service_not_active: { status: 409, kind: 'deny', message: () => 'service is not active' },
  limits_exceeded: { status: 409, kind: 'deny', message: () => 'usage limits are exceeded' },
  oauth_not_enabled: { status: 409, kind: 'deny', message: () => 'oauth is not enabled' },
  redirect_uri_invalid: { status: 409, kind: 'deny', message: (u) => `redirect_uri ${q(u)} is invalid` },
  redirect_url_invalid: { status: 409, kind: 'deny', message: (u) => `redirect_url ${q(u)} is invalid` },
  transaction_timestamp_too_old: {
    status: 409,
    kind: 'async',
    message: () => 'reporting transactions older than 86400 seconds is not allowed',
  },
  transaction_timestamp_too_new: {
    status: 409,
    kind: 'async',
    message: () => 'reporting transactions more than 3600 seconds in the future is not allowed',
  },
  store_unavailable: {
    status: 503,
    kind: 'error',
    message: () => 'the usage store is unavailable, retry later',
  },
} as const satisfies Record<string, ErrorDef>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;
/** Codes that deny (409 status body) rather than fail. */
export type DenyCode = {
  [K in ErrorCode]: (typeof ERROR_CATALOGUE)[K]['kind'] extends 'deny' ? K : never;
}[ErrorCode];

/** An error as a value: what the HTTP face renders and the error log stores. */
export interface BackendError {
  readonly code: ErrorCode;
  readonly status: number;
  readonly message: string;
}

/** Builds the error `code` with its message arguments. */
export function backendError(code: ErrorCode, a?: string, b?: string): BackendError {
  const def: ErrorDef = ERROR_CATALOGUE[code];
  return { code, status: def.status, message: def.message(a, b) };
}

/** Messages of bad_request by parser fault. */
export function badRequestMessage(fault: 'syntax' | 'encoding' | 'count' | 'size', count: number): string {
  switch (fault) {
    case 'syntax':
      return 'request contains syntax errors, should not be repeated without modification';
    case 'encoding':
      return 'Invalid query parameters: invalid %-encoding';
    case 'count':
      return `total number of query parameters (${count}) exceeds limit`;
    case 'size':
      return 'total query size exceeds limit';
  }
}
