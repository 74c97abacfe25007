// JSON logs in Elastic Common Schema, one object per line on stdout, so Filebeat ships them as
// they are and Kibana reads the fields without a parsing pipeline.
import { ecsFormat } from '@elastic/ecs-pino-format';
import pino from 'pino';

export function createLogger({ service, version, level = 'info', destination } = {}) {
  return pino(
    {
      ...ecsFormat({ serviceName: service, serviceVersion: version, convertErr: true }),
      level,
      // Nothing secret is logged by the kit, and these paths are cut in case a caller tries.
      redact: {
        paths: ['authorization', 'password', 'client_secret', 'access_token', '*.authorization'],
        censor: '[redacted]',
      },
    },
    destination ?? bufferedStdout(),
  );
}

/**
 * Stdout through a 4 KiB buffer written in the background: a synchronous write per line cost a
 * quarter of the API's throughput under load (make bench-services, Node 24). No line is lost or
 * held long: the buffer is flushed every second, after the service starts listening, and
 * synchronously when the process exits, however it exits (the kit's shutdown, a fatal start-up
 * error, process.exit); lines keep their order.
 */
function bufferedStdout() {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  // A quiet service's lines still reach the log shipper within a second.
  setInterval(() => destination.flush(), 1000).unref();
  process.on('exit', () => {
    try {
      destination.flushSync();
    } catch {
      // stdout already closed: nothing left to write to
    }
  });
  return destination;
}
