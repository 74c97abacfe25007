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
    // Synchronous writes: no line is lost or reordered when the process exits after SIGTERM.
    destination ?? pino.destination({ sync: true }),
  );
}
