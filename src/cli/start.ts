/**
 * `tollgate start`: the composition root. Reads the environment once, builds the adapters, hands them
 * to the parts named by --roles, starts their listeners and background loops, and shuts all of it down
 * in order on SIGTERM/SIGINT (listeners first, then loops, then stores, so no counted usage is lost).
 */
import { join, resolve } from 'node:path';
import { ensurePlatformToken } from '../admin/bootstrap.js';
import { syncAuthView } from '../admin/projection.js';
import { buildAdminServer } from '../admin/server.js';
import { backendClientError } from '../backend/http.js';
import { createBackend } from '../backend/index.js';
import { UsageQueue } from '../backend/usage-queue.js';
import { createAuthorizers } from '../gateway/authz/index.js';
import {
  ControlPlaneSnapshotSource,
  emptyGatewayConfig,
  GatewayConfigFeed,
  SqlSnapshotSource,
} from '../gateway/loader.js';
import { type AuthCacheStats, GatewayMetrics } from '../gateway/metrics.js';
import { createPolicyEnv } from '../gateway/policies/env.js';
import { createProxy } from '../gateway/proxy.js';
import { createGatewayRuntime } from '../gateway/runtime.js';
import { WebhookDispatcher, webhookOutboxHook } from '../notify/index.js';
import { createLogger, type Logger } from '../obs/logger.js';
import { createRegistry } from '../obs/metrics.js';
import { closeServer, type Listener, listen } from '../server/http.js';
import { RedisQuotaStore } from '../store/counters/lease-redis.js';
import { ConfigVersionWatch } from '../store/sql/version-watch.js';
import type { StartArgs } from './args.js';
import { applyConfigFile } from './config-file.js';
import type { Env } from './env.js';
import { UsageLogJanitor } from './janitor.js';
import { ConfigPoller } from './poller.js';
import { openStores, type Stores } from './stores.js';
import { VERSION } from './version.js';

export interface Running {
  readonly ports: Readonly<Partial<Record<'admin' | 'backend' | 'gateway', number>>>;
  readonly stores: Stores;
  stop(): Promise<void>;
}

/** Starts the platform in this process. Resolves once every listener is up. */
export async function startPlatform(
  args: StartArgs,
  env: Env,
  logger: Logger = createLogger(env.LOG_LEVEL),
): Promise<Running> {
  const dataDir = resolve(args.dataDir ?? env.TOLLGATE_DATA_DIR ?? './data');
  const host = env.TOLLGATE_HOST ?? '0.0.0.0';
  const roles = new Set(args.roles);
  const registry = createRegistry();
  let ready = false;
  const isReady = () => ready;

  const stores = await openStores(env, dataDir);
  const stops: Array<() => Promise<void>> = [];
  try {
    if (args.config) {
      const summary = await applyConfigFile(stores.sql.db, args.config, {
        authView: stores.localAuthView ? null : stores.authView,
      });
      logger.info({ file: args.config, changes: summary.changes.length }, 'config applied');
    }
    if (env.TOLLGATE_PLATFORM_TOKEN && roles.has('admin')) {
      if (await ensurePlatformToken(stores.sql.db, env.TOLLGATE_PLATFORM_TOKEN, Date.now())) {
        logger.info('platform token from TOLLGATE_PLATFORM_TOKEN registered');
      }
    }
    // The auth view is the projection of SQL: in-process views are built here; a shared Redis view is
    // kept current by the processes that run the admin role.
    const ownsProjection = stores.localAuthView || roles.has('admin');
    // One poll of the tenants' config versions for the auth view's projection and the gateway's snapshots.
    const versionWatch = new ConfigVersionWatch(stores.sql.db, 250, (err) =>
      logger.warn({ err }, 'config version poll failed'),
    );
    stops.push(() => versionWatch.stop());
    if (ownsProjection) {
      await syncAuthView(stores.sql.db, stores.authView);
      const poller = new ConfigPoller(stores.sql.db, stores.authView, logger, versionWatch);
      await poller.start();
      stops.push(() => poller.stop());
    }

    const clock = Date.now;
    const ports: Partial<Record<'admin' | 'backend' | 'gateway', number>> = {};
    const listeners: Listener[] = [];

    const backendDeps = {
      authView: stores.authView,
      counters: stores.counters,
      usageLog: stores.usageLog,
      errorLog: stores.errorLog,
      clock,
      version: VERSION,
    };
    const backend = createBackend({ ...backendDeps, registry, logger });
    stops.push(() => backend.close());

    if (roles.has('worker')) {
      backend.startWorker(`worker-${process.pid}`);
      const janitor = new UsageLogJanitor(stores.usageLog, logger, clock);
      janitor.start();
      stops.push(() => janitor.stop());
      const webhooks = new WebhookDispatcher({ db: stores.sql.db, logger, clock });
      webhooks.start();
      stops.push(() => webhooks.stop());
    }

    if (roles.has('backend')) {
      const l = await listen({
        name: 'backend',
        host,
        port: args.backendPort ?? env.TOLLGATE_BACKEND_PORT ?? 3001,
        registry,
        ready: isReady,
        handler: backend.handler,
        clientError: backendClientError,
      });
      listeners.push(l);
      ports.backend = l.port;
    }
    if (roles.has('gateway')) {
      const proxy = createProxy({
        timeouts: { connectMs: 5000, headersMs: 60_000, bodyMs: 60_000 },
        upstreamClient: env.TOLLGATE_UPSTREAM_CLIENT ?? 'lane',
      });
      const metrics = new GatewayMetrics(registry);
      // Up to 5000 events per usage-log record, as the backend's: at tens of thousands of calls a second
      // the log takes a few appends a second, not dozens (each is a transaction the worker reads back).
      const usage = new UsageQueue(stores.usageLog, {
        maxBatch: 5000,
        logger,
        maxQueue: env.TOLLGATE_USAGE_QUEUE_MAX,
      });
      metrics.trackUsageQueue(usage);
      metrics.trackAuthCache(() => (stores.authView as { stats?: AuthCacheStats }).stats);
      // Config: over HTTP from the control plane when one is named (and this process is not it), else SQL.
      const remoteConfig = env.TOLLGATE_CONTROL_PLANE_URL !== undefined && !roles.has('admin');
      const feed = new GatewayConfigFeed({
        source: remoteConfig
          ? new ControlPlaneSnapshotSource(
              env.TOLLGATE_CONTROL_PLANE_URL as string,
              env.TOLLGATE_CONTROL_PLANE_TOKEN as string,
            )
          : new SqlSnapshotSource(stores.sql.db, versionWatch),
        logger,
        ...(remoteConfig ? { persistPath: join(dataDir, 'gateway-snapshot.json') } : {}),
      });
      metrics.trackConfig(feed);
      // batched / leased modes keep their own Redis connection (lease grants, idempotent usage batches).
      const quota = env.REDIS_URL
        ? await RedisQuotaStore.connect(env.REDIS_URL, {
            keyPrefix: env.TOLLGATE_REDIS_PREFIX ?? 'tollgate:',
          })
        : undefined;
      const authorizers = createAuthorizers({
        deps: { ...backendDeps },
        ...(quota !== undefined ? { quota } : {}),
        onStoreError: (err, svc) => logger.error({ err, service: svc.id }, 'gateway store failure'),
        onBreaker: (state) => logger.warn({ state }, 'gateway store circuit breaker'),
        observeStore: metrics.observeStore,
      });
      metrics.trackBreaker(() => authorizers.breakerState());
      // Policies: access logs through this logger; shared edge rate limits in the deployment's Redis.
      const policies = createPolicyEnv({
        logger,
        redis: env.REDIS_URL
          ? { url: env.REDIS_URL, keyPrefix: env.TOLLGATE_REDIS_PREFIX ?? 'tollgate:' }
          : null,
      });
      const runtime = createGatewayRuntime({
        authorizers,
        proxy,
        usage,
        config: (await feed.init()) ?? emptyGatewayConfig(),
        metrics,
        policies,
      });
      feed.start((c) => runtime.load(c));
      stops.push(async () => {
        await feed.stop();
        await proxy.close();
        await authorizers.close();
        await usage.close();
        await policies.close();
      });
      const l = await listen({
        name: 'gateway',
        host,
        port: args.gatewayPort ?? env.TOLLGATE_GATEWAY_PORT ?? 8080,
        registry,
        ready: () => isReady() && feed.config !== null,
        handler: runtime.request,
      });
      l.server.on('upgrade', runtime.upgrade);
      listeners.push(l);
      ports.gateway = l.port;
    }
    if (roles.has('admin')) {
      const app = await buildAdminServer({
        ctx: {
          db: stores.sql.db,
          errorLog: stores.errorLog,
          clock,
          authView: stores.authView,
          changeHooks: [webhookOutboxHook],
        },
        registry,
        ready: isReady,
        logger,
        version: VERSION,
      });
      await app.listen({ host, port: args.adminPort ?? env.TOLLGATE_ADMIN_PORT ?? 3000 });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      ports.admin = port;
      listeners.push({
        name: 'admin',
        port,
        server: app.server,
        close: async (graceMs) => {
          await closeServer(app.server, graceMs);
          await app.close();
        },
      });
    }
    for (const l of listeners) {
      logger.info({ role: l.name, port: l.port, url: `http://${host}:${l.port}` }, 'listening');
    }
    ready = true;
    logger.info(
      { roles: [...roles], stores: stores.describe, dataDir, version: VERSION },
      'tollgate started',
    );

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        // Background loops wait on unref'd timers; once the listeners are closed nothing else keeps the
        // event loop alive, and node would exit mid-shutdown (before counters are flushed). Hold it open.
        const keepAlive = setInterval(() => undefined, 1000);
        try {
          await shutdown();
        } finally {
          clearInterval(keepAlive);
        }
      })();
      return stopping;
    };
    const shutdown = async () => {
      ready = false;
      await Promise.all(listeners.map((l) => l.close(5000)));
      for (const s of stops.reverse()) await s();
      await stores.close();
      logger.info('tollgate stopped');
    };
    return { ports, stores, stop };
  } catch (err) {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await stores.close().catch(() => undefined);
    throw err;
  }
}

/** Runs `tollgate start` until SIGTERM or SIGINT. */
export async function runStart(args: StartArgs, env: Env): Promise<number> {
  const logger = createLogger(env.LOG_LEVEL);
  const running = await startPlatform(args, env, logger);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await running.stop();
  return 0;
}
