// The HTTP service every platform service is: health endpoints, metrics, access logs in ECS,
// JSON errors, and a graceful shutdown on SIGTERM (stop accepting, drain, close dependencies).
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';

import express from 'express';

import { routeOf } from './metrics.js';

const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

export class HttpError extends Error {
  constructor(status, body, headers = {}) {
    super(body?.error_description ?? body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/**
 * Builds a service.
 * - `routes(app)` mounts the service's own routes;
 * - `ready()` resolves to `{ ready: boolean, checks: {name: status} }` for /readyz;
 * - `close()` releases dependencies (Redis, …) once the server has drained.
 */
export function createService({ name, logger, metrics, routes, ready = async () => ({ ready: true, checks: {} }), close = async () => {} }) {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback, uniquelocal'); // Kong sits in front, inside the cluster
  const state = { draining: false };

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    req.id = req.get('x-request-id') ?? randomUUID();
    res.set('x-request-id', req.id);
    res.on('finish', () => {
      const level = PROBES.has(req.path) ? 'debug' : res.statusCode >= 500 ? 'error' : 'info';
      logger[level](
        {
          event: { dataset: `${name}.access`, duration: Number(process.hrtime.bigint() - started) },
          http: {
            request: { id: req.id, method: req.method },
            response: { status_code: res.statusCode },
          },
          url: { path: req.path, route: routeOf(req) },
          client: { ip: req.ip },
          user_agent: { original: req.get('user-agent') },
          ...(res.locals.principal ? { user: { id: res.locals.principal } } : {}),
        },
        `${req.method} ${req.path} ${res.statusCode}`,
      );
    });
    next();
  });
  app.use(metrics.middleware);

  app.get('/healthz', (req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (req, res) => {
    if (state.draining) {
      res.status(503).json({ status: 'draining', checks: {} });
      return;
    }
    let result;
    try {
      result = await ready();
    } catch (error) {
      logger.warn({ err: error }, 'readiness check failed');
      result = { ready: false, checks: { service: 'error' } };
    }
    res.status(result.ready ? 200 : 503).json({ status: result.ready ? 'ready' : 'not ready', checks: result.checks });
  });
  app.get('/metrics', async (req, res) => {
    res.set('content-type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  routes(app);

  app.use((req, res) => {
    res.status(404).json({ error: 'not_found', message: `no route for ${req.method} ${req.path}` });
  });
  // Express's error contract needs the four parameters.
  // eslint-disable-next-line no-unused-vars
  app.use((error, req, res, next) => {
    if (error instanceof HttpError) {
      res.status(error.status).set(error.headers).json(error.body);
      return;
    }
    if (error.type === 'entity.too.large' || error.type === 'entity.parse.failed' || error.status === 400) {
      res.status(400).json({ error: 'invalid_request', error_description: 'the request body could not be read' });
      return;
    }
    logger.error({ err: error, http: { request: { id: req.id } } }, 'unhandled error');
    res.status(500).json({ error: 'internal_error', message: 'internal error', request_id: req.id });
  });

  let server;

  async function listen(port, host) {
    server = app.listen(port, host);
    await once(server, 'listening');
    // Behind Kong's keep-alive pool: keep idle sockets longer than Kong does (60 s), so Kong never
    // reuses a socket this side has just closed.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    logger.info({ event: { action: 'start' } }, `${name} listening on ${server.address().port}`);
    return server.address().port;
  }

  /** Stops accepting, lets in-flight requests finish (at most `timeoutMs`), then closes. */
  async function shutdown(timeoutMs) {
    if (state.draining) return;
    state.draining = true;
    logger.info({ event: { action: 'shutdown' } }, `${name} draining`);
    if (server) {
      const closed = once(server, 'close');
      server.close();
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        logger.warn({ event: { action: 'shutdown' } }, 'drain timed out; closing open connections');
        server.closeAllConnections();
      }, timeoutMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
    }
    await close();
    logger.info({ event: { action: 'stop' } }, `${name} stopped`);
  }

  return { app, listen, shutdown, state };
}

/** Wires SIGTERM and SIGINT to a graceful shutdown, then exits. */
export function exitOnSignals(service, { logger, timeoutMs }) {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ event: { action: 'signal' } }, `received ${signal}`);
      service
        .shutdown(timeoutMs)
        .then(() => logger.flush?.())
        .then(() => process.exit(0))
        .catch((error) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        });
    });
  }
}
