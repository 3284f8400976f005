// The gateway's environment variables: the control plane's address and token go together; the usage
// queue's bound is a number; the upstream client is one of two names.
import { describe, expect, it } from 'vitest';
import { readEnv } from '../../src/cli/env.js';

const TOKEN = 'a-platform-token-of-24-chars-or-more';

describe('gateway environment', () => {
  it('reads the control plane address, its token and the usage queue bound', () => {
    const env = readEnv({
      TOLLGATE_CONTROL_PLANE_URL: 'http://admin.internal:3000',
      TOLLGATE_CONTROL_PLANE_TOKEN: TOKEN,
      TOLLGATE_USAGE_QUEUE_MAX: '50000',
    });
    expect(env.TOLLGATE_CONTROL_PLANE_URL).toBe('http://admin.internal:3000');
    expect(env.TOLLGATE_CONTROL_PLANE_TOKEN).toBe(TOKEN);
    expect(env.TOLLGATE_USAGE_QUEUE_MAX).toBe(50_000);
  });

  it('refuses a control plane without a token, a bad address, a short token or a bad bound', () => {
    expect(() => readEnv({ TOLLGATE_CONTROL_PLANE_URL: 'http://admin:3000' })).toThrow(
      /TOLLGATE_CONTROL_PLANE_TOKEN/,
    );
    expect(() =>
      readEnv({ TOLLGATE_CONTROL_PLANE_URL: 'admin:3000', TOLLGATE_CONTROL_PLANE_TOKEN: TOKEN }),
    ).toThrow(/TOLLGATE_CONTROL_PLANE_URL/);
    expect(() => readEnv({ TOLLGATE_CONTROL_PLANE_TOKEN: 'short' })).toThrow(/TOLLGATE_CONTROL_PLANE_TOKEN/);
    expect(() => readEnv({ TOLLGATE_USAGE_QUEUE_MAX: 'lots' })).toThrow(/TOLLGATE_USAGE_QUEUE_MAX/);
    expect(() => readEnv({ TOLLGATE_USAGE_QUEUE_MAX: '10' })).toThrow(/TOLLGATE_USAGE_QUEUE_MAX/);
  });

  it('takes lane or undici as the upstream client, and nothing else', () => {
    expect(readEnv({}).TOLLGATE_UPSTREAM_CLIENT).toBeUndefined();
    expect(readEnv({ TOLLGATE_UPSTREAM_CLIENT: 'undici' }).TOLLGATE_UPSTREAM_CLIENT).toBe('undici');
    expect(readEnv({ TOLLGATE_UPSTREAM_CLIENT: 'lane' }).TOLLGATE_UPSTREAM_CLIENT).toBe('lane');
    expect(() => readEnv({ TOLLGATE_UPSTREAM_CLIENT: 'curl' })).toThrow(/TOLLGATE_UPSTREAM_CLIENT/);
  });
});
