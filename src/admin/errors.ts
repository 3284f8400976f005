/**
 * The admin API's error catalogue: every error has a stable code, an HTTP status and a title, and is
 * answered as RFC 9457 problem+json. docs/admin-api.md lists them all (a test checks it).
 */
export const ADMIN_ERRORS = {
  unauthorized: { status: 401, title: 'A valid bearer token is required' },
  token_expired: { status: 401, title: 'The access token has expired' },
  forbidden: { status: 403, title: 'The token lacks the scope or permission this call needs' },
  not_found: { status: 404, title: 'No such resource' },
  invalid_request: { status: 400, title: 'The request is malformed or fails validation' },
  method_not_allowed: { status: 405, title: 'Method not allowed on this resource' },
  conflict: { status: 409, title: 'The request conflicts with the current state of the resource' },
  precondition_failed: { status: 412, title: 'If-Match does not match the current ETag' },
  idempotency_key_reused: { status: 422, title: 'The Idempotency-Key was used with a different request' },
  rate_limited: { status: 429, title: 'Too many requests for this token; retry later' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  unsupported_media_type: { status: 415, title: 'Unsupported content type' },
  internal_error: { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'A store the call needs is unavailable' },
} as const;

export type AdminErrorCode = keyof typeof ADMIN_ERRORS;

/** A failure the admin API answers as problem+json with its catalogue status. */
export class AdminError extends Error {
  constructor(
    readonly code: AdminErrorCode,
    message?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message ?? ADMIN_ERRORS[code].title);
  }
}

/** The RFC 9457 body of an error. `detail` never carries internals for 5xx. */
export function problem(
  code: AdminErrorCode,
  detail: string,
  instance?: string,
  extra: Record<string, unknown> = {},
) {
  const e = ADMIN_ERRORS[code];
  return {
    type: `https://tollgate.dev/problems/${code}`,
    title: e.title,
    status: e.status,
    code,
    detail,
    ...(instance ? { instance } : {}),
    ...extra,
  };
}
