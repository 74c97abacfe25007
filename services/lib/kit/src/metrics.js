// Prometheus metrics: the process defaults plus the RED metrics of every HTTP route. The names
// here are the ones the monitoring layer's dashboards and alert rules query.
import client from 'prom-client';

export const HTTP_REQUESTS = 'http_requests_total';
export const HTTP_DURATION = 'http_request_duration_seconds';
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function createMetrics({ service }) {
  const registry = new client.Registry();
  registry.setDefaultLabels({ service });
  client.collectDefaultMetrics({ register: registry });
  const labelNames = ['method', 'route', 'status_code'];
  const requests = new client.Counter({
    name: HTTP_REQUESTS,
    help: 'HTTP requests answered, by method, route template and status code.',
    labelNames,
    registers: [registry],
  });
  const duration = new client.Histogram({
    name: HTTP_DURATION,
    help: 'Time to answer an HTTP request, by method, route template and status code.',
    labelNames,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });

  /** Records every request. The route label is the matched template (`/v1/offices/:id`), never
   * the raw path, so an attacker cannot blow up the series count. */
  function middleware(req, res, next) {
    const stop = duration.startTimer();
    res.on('finish', () => {
      const labels = { method: req.method, route: routeOf(req), status_code: String(res.statusCode) };
      requests.inc(labels);
      stop(labels);
    });
    next();
  }

  return {
    registry,
    middleware,
    counter: (options) => new client.Counter({ ...options, registers: [registry] }),
    histogram: (options) => new client.Histogram({ ...options, registers: [registry] }),
    gauge: (options) => new client.Gauge({ ...options, registers: [registry] }),
  };
}

export function routeOf(req) {
  if (req.route?.path) return `${req.baseUrl ?? ''}${req.route.path}`;
  return 'unmatched';
}
