/**
 * The CLI's client of the admin API: bearer token, JSON in and out, problem+json errors turned into one
 * readable message (and a non-zero exit by the caller).
 */
import { request } from 'undici';

/** A call the admin API refused, or that could not reach it. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface ApiClient {
  call(method: string, path: string, body?: unknown): Promise<unknown>;
}

interface Problem {
  code?: string;
  detail?: string;
  title?: string;
  errors?: { path: string; message: string }[];
}

export function createClient(server: string, token: string): ApiClient {
  const base = server.replace(/\/+$/, '');
  return {
    async call(method, path, body) {
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(`${base}/admin/api${path}`, {
          method: method as 'GET',
          headers: {
            authorization: `Bearer ${token}`,
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          headersTimeout: 30_000,
          bodyTimeout: 30_000,
        });
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        throw new ApiError(`cannot reach the admin API at ${base} (${code || String(err)})`, 0);
      }
      const text = await res.body.text();
      if (res.statusCode >= 400) {
        let p: Problem = {};
        try {
          p = JSON.parse(text) as Problem;
        } catch {
          // not problem+json: fall through to the status line
        }
        const lines = (p.errors ?? []).map((e) => `  ${e.path}: ${e.message}`);
        const head = `${res.statusCode} ${p.code ?? 'error'}: ${p.detail ?? p.title ?? text.slice(0, 200)}`;
        throw new ApiError([head, ...lines].join('\n'), res.statusCode);
      }
      return text === '' ? null : (JSON.parse(text) as unknown);
    },
  };
}
