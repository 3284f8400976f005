/** Structured JSON logs (pino). Secrets never reach a log: known secret fields are redacted. */
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level = 'info'): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    redact: {
      paths: [
        'token',
        'provider_key',
        'service_token',
        'user_key',
        'app_key',
        '*.token',
        'req.headers.authorization',
      ],
      censor: '[redacted]',
    },
  });
}
