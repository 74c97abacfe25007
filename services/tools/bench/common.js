// The same endpoint as the offices API's GET /v1/offices/:id, written the common way, as a team
// would without the kit: Express, jsonwebtoken (the most used JWT library) verifying every
// request, node-redis for the cache (cache-aside, no near cache), the directory file on a miss.
// No memo, no access log, no metrics: what the kit adds on top is what the ratio between the two
// measures.
import { readFileSync } from 'node:fs';

import { createClient } from '@redis/client';
import express from 'express';
import jwt from 'jsonwebtoken';

const publicKey = readFileSync(process.env.JWT_PUBLIC_KEY_FILE);
const options = { algorithms: ['RS256'], audience: process.env.JWT_AUDIENCE, issuer: process.env.JWT_ISSUER };
const directory = JSON.parse(readFileSync(process.env.DIRECTORY_FILE, 'utf8')).offices;
const redis = createClient({ url: process.env.REDIS_URL, password: readFileSync(process.env.REDIS_PASSWORD_FILE, 'utf8') });
await redis.connect();

const app = express();
app.disable('x-powered-by');
app.get('/healthz', (req, res) => res.json({ status: 'ok' }));
app.get('/v1/offices/:id', async (req, res) => {
  const header = req.get('authorization') ?? '';
  let claims;
  try {
    claims = jwt.verify(header.replace(/^Bearer /i, ''), publicKey, options);
  } catch {
    res.status(401).json({ error: 'invalid_token' });
    return;
  }
  if (!String(claims.scope ?? '').split(' ').includes('offices.read')) {
    res.status(403).json({ error: 'insufficient_scope' });
    return;
  }
  const key = `common:office:${req.params.id}`;
  const cached = await redis.get(key);
  if (cached) {
    res.json(JSON.parse(cached));
    return;
  }
  const office = directory.find((o) => o.id === req.params.id);
  if (!office) {
    res.status(404).json({ error: 'not_found' });
    return;
  }
  await redis.set(key, JSON.stringify(office), { expiration: { type: 'EX', value: 300 } });
  res.json(office);
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => redis.close().finally(() => process.exit(0))));
