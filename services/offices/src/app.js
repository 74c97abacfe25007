// GET /v1/offices[?region=] and GET /v1/offices/:id, read through the cache, for callers whose
// token carries `offices.read`.
import { HttpError, createService } from '@natplat/service-kit';

import { isOffice, isOfficeId, isOfficeList } from './directory.js';

const REGION = /^[a-z][a-z0-9-]{0,31}$/;

export function createOfficesApp({ directory, cache, guard, logger, metrics, readScope = 'offices.read' }) {
  const requireRead = guard(readScope);
  return createService({
    name: 'offices',
    logger,
    metrics,
    async ready() {
      // The directory is required: without it there is nothing to serve. Redis is reported but
      // does not fail readiness: a cache outage must slow the API down, not take every replica
      // out of the Service at once.
      let directoryState = 'ok';
      try {
        await directory.check();
      } catch (error) {
        logger.warn({ err: error }, 'offices directory unreadable');
        directoryState = 'unreadable';
      }
      return { ready: directoryState === 'ok', checks: { directory: directoryState, cache: await cache.status() } };
    },
    close: () => cache.close(),
    routes(app) {
      app.get('/v1/offices', requireRead, async (req, res) => {
        const { region } = req.query;
        if (region !== undefined && (typeof region !== 'string' || !REGION.test(region))) {
          throw new HttpError(400, { error: 'invalid_request', error_description: 'region must be a region name' });
        }
        // Only a region the directory knows (a non-empty answer) is cached.
        const offices = await cache.getOrLoad(
          `list:${region ?? '*'}`,
          () => directory.list({ region }),
          (list) => Array.isArray(list) && (region === undefined || list.length > 0),
          (list) => isOfficeList(list, region) && (region === undefined || list.length > 0),
        );
        res.set('cache-control', 'private, max-age=60').json({ offices });
      });
      app.get('/v1/offices/:id', requireRead, async (req, res) => {
        if (!isOfficeId(req.params.id)) {
          throw new HttpError(400, { error: 'invalid_request', error_description: 'not an office id' });
        }
        const { id } = req.params;
        const office = await cache.getOrLoad(`office:${id}`, () => directory.get(id), undefined, (value) => isOffice(value, id));
        if (!office) throw new HttpError(404, { error: 'not_found', error_description: `no office ${req.params.id}` });
        res.set('cache-control', 'private, max-age=60').json(office);
      });
    },
  });
}
