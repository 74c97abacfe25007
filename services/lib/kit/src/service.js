// The HTTP service every platform service is: health endpoints, metrics, access logs in ECS,
// JSON errors, and a graceful shutdown on SIGTERM (stop accepting, drain, close dependencies).
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';

import express from 'express';

import { routeOf } from './metrics.js';

const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

/** One error shape everywhere, OAuth-style: `{ error, error_description }`. */
export class HttpError extends Error {
  constructor(status, body, headers = {}) {
    super(body?.error_description ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/**
 * Errors raised before our handlers run (body parsing, path decoding), by their `type` (raw-body,
 * body-parser) or shape: each is the client's mistake, so a 4xx with the usual shape, never a 500
 * (a 500 means a bug of ours, and feeds the 5xx burn-rate alerts).
 */
const CLIENT_ERRORS = {
  'entity.too.large': [413, 'request_too_large', 'the request body is too large'],
  'parameters.too.many': [413, 'request_too_large', 'the request has too many parameters'],
  'entity.parse.failed': [400, 'invalid_request', 'the request body could not be parsed'],
  'entity.verify.failed': [400, 'invalid_request', 'the request body could not be verified'],
  'request.aborted': [400, 'invalid_request', 'the request body was cut short'],
  'request.size.invalid': [400, 'invalid_request', 'the request body does not match its length'],
  'charset.unsupported': [415, 'unsupported_media_type', 'the request body charset is not supported'],
  'encoding.unsupported': [415, 'unsupported_media_type', 'the request body encoding is not supported'],
};

function clientError(error) {
  const known = CLIENT_ERRORS[error?.type];
  if (known) return known;
  if (error instanceof URIError || /Failed to decode param/.test(error?.message ?? '')) {
    return [400, 'invalid_request', 'the request path or a parameter has a bad percent-escape'];
  }
  const status = error?.status ?? error?.statusCode;
  if (Number.isInteger(status) && status >= 400 && status < 500) {
    return [status, status === 400 ? 'invalid_request' : `http_${status}`, 'the request could not be handled'];
  }
  return undefined;
}

/** The methods registered for `path` on `app`'s routes (for 405 and Allow). */
function allowedMethods(app, path) {
  const methods = new Set();
  for (const layer of app.router.stack) {
    if (!layer.route) continue;
    let matches = false;
    try {
      matches = layer.match(path);
    } catch {
      matches = false; // a path that cannot be decoded matches nothing
    }
    if (!matches) continue;
    for (const [method, on] of Object.entries(layer.route.methods)) {
      if (on && method !== '_all') methods.add(method.toUpperCase());
    }
  }
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
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
  const state = { draining: false, inFlight: 0 };
  const responses = new Set(); // in flight, to be told `Connection: close` when draining starts
  let lastResponse; // resolves when the last in-flight request has been answered, while draining

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    state.inFlight += 1;
    responses.add(res);
    // While draining, every response tells a keep-alive client to go (`Connection: close`).
    if (state.draining) res.shouldKeepAlive = false;
    req.id = req.get('x-request-id') ?? randomUUID();
    res.set('x-request-id', req.id);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      state.inFlight -= 1;
      responses.delete(res);
      if (state.draining && state.inFlight === 0) lastResponse?.();
    };
    res.on('finish', finish);
    res.on('close', finish);
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
    const allow = allowedMethods(app, req.path);
    if (allow.length > 0) {
      res.status(405).set('allow', allow.join(', ')).json({
        error: 'method_not_allowed',
        error_description: `${req.method} is not allowed here; use ${allow.join(', ')}`,
      });
      return;
    }
    res.status(404).json({ error: 'not_found', error_description: `no route for ${req.method} ${req.path}` });
  });
  // Express's error contract needs the four parameters.
  // eslint-disable-next-line no-unused-vars
  app.use((error, req, res, next) => {
    if (error instanceof HttpError) {
      res.status(error.status).set(error.headers).json(error.body);
      return;
    }
    const known = clientError(error);
    if (known) {
      const [status, code, description] = known;
      res.status(status).json({ error: code, error_description: description });
      return;
    }
    logger.error({ err: error, http: { request: { id: req.id } } }, 'unhandled error');
    res.status(500).json({ error: 'internal_error', error_description: 'internal error', request_id: req.id });
  });

  let server;

  async function listen(port, host) {
    server = app.listen(port, host);
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([error]) => {
        throw error;
      }),
    ]);
    // Behind Kong's keep-alive pool: keep idle sockets longer than Kong does (60 s), so Kong never
    // reuses a socket this side has just closed.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    logger.info({ event: { action: 'start' } }, `${name} listening on ${server.address().port}`);
    return server.address().port;
  }

  /**
   * Drains, then closes, without losing a request:
   * 1. for `delayMs`, keeps accepting and serving while whatever routes here learns to stop
   *    (Kubernetes removes the endpoints as it sends SIGTERM, asynchronously): /readyz says 503,
   *    and every response says `Connection: close`, so a keep-alive socket is closed only right
   *    after a response, when its client knows not to reuse it, never under a request on its way;
   * 2. stops accepting, finishes every in-flight request, then closes the sockets that stayed
   *    idle through the whole delay (nothing routes to them any more);
   * 3. returns as soon as every socket is closed, or cuts what is left when `timeoutMs` runs out.
   */
  async function shutdown(timeoutMs, { delayMs = 0 } = {}) {
    if (state.draining) return;
    state.draining = true;
    for (const res of responses) if (!res.headersSent) res.shouldKeepAlive = false;
    logger.info({ event: { action: 'shutdown' } }, `${name} draining`);
    if (server && delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (server) {
      const closed = once(server, 'close');
      // net.Server's close stops accepting and waits for the open sockets. http.Server's own
      // close would also destroy idle keep-alive sockets at once, and with them any request a
      // client had already sent on one but that was not parsed yet: dropped, with no response.
      net.Server.prototype.close.call(server);
      const timer = setTimeout(() => {
        logger.warn({ event: { action: 'shutdown' } }, 'drain timed out; closing open connections');
        server.closeAllConnections();
      }, timeoutMs);
      timer.unref();
      const answered = state.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => (lastResponse = resolve));
      await answered;
      // A request already on its way on an idle socket gets a moment to be read before the idle
      // sockets close; one that arrives is served (with Connection: close) and closes its socket.
      await new Promise((resolve) => setTimeout(resolve, 50));
      server.closeIdleConnections();
      await closed;
      clearTimeout(timer);
    }
    await close();
    logger.info({ event: { action: 'stop' } }, `${name} stopped`);
  }

  return { app, listen, shutdown, state };
}

/** Wires SIGTERM and SIGINT to a graceful shutdown, then exits. */
export function exitOnSignals(service, { logger, timeoutMs, delayMs = 0 }) {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info({ event: { action: 'signal' } }, `received ${signal}`);
      service
        .shutdown(timeoutMs, { delayMs })
        .then(() => logger.flush?.())
        .then(() => process.exit(0))
        .catch((error) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        });
    });
  }
}
