// The token endpoint (RFC 6749 §4.4, client credentials) and the JWKS. Errors follow RFC 6749
// §5.2: a JSON body with `error` and `error_description`, 400 or 401, and never a hint about
// which of the client id or the secret was wrong.
import { randomUUID } from 'node:crypto';

import express from 'express';
import { SignJWT } from 'jose';

import { HttpError, createService } from '@natplat/service-kit';

import { ALGORITHM } from './keys.js';
import { authenticate } from './clients.js';

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

function oauthError(status, error, description, headers = {}) {
  return new HttpError(status, { error, error_description: description }, { ...NO_STORE, ...headers });
}

/** The client credentials of a request: HTTP Basic (client_secret_basic) or the form body
 * (client_secret_post), never both (RFC 6749 §2.3). */
function credentialsOf(req) {
  const header = req.get('authorization');
  const inBody = req.body.client_id !== undefined || req.body.client_secret !== undefined;
  if (header) {
    if (inBody) throw oauthError(400, 'invalid_request', 'use one client authentication method, not two');
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header);
    const decoded = match ? Buffer.from(match[1], 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (colon < 1) throw oauthError(401, 'invalid_client', 'client authentication failed', { 'www-authenticate': 'Basic realm="token"' });
    return {
      id: decodeURIComponent(decoded.slice(0, colon)),
      secret: decodeURIComponent(decoded.slice(colon + 1)),
      basic: true,
    };
  }
  if (typeof req.body.client_id !== 'string' || typeof req.body.client_secret !== 'string') {
    throw oauthError(401, 'invalid_client', 'client authentication failed', { 'www-authenticate': 'Basic realm="token"' });
  }
  return { id: req.body.client_id, secret: req.body.client_secret, basic: false };
}

function grantedScopes(client, requested) {
  if (requested === undefined || requested === '') return client.scopes;
  if (typeof requested !== 'string') throw oauthError(400, 'invalid_request', 'scope must be given once');
  const scopes = [...new Set(requested.split(' ').filter(Boolean))];
  const refused = scopes.filter((scope) => !client.scopes.includes(scope));
  if (refused.length > 0) throw oauthError(400, 'invalid_scope', `scope not allowed for this client: ${refused.join(' ')}`);
  return scopes;
}

export function createAuthApp({ config, keys, clients, logger, metrics, now = () => Date.now() }) {
  const issued = metrics.counter({
    name: 'auth_tokens_issued_total',
    help: 'Access tokens issued, by client.',
    labelNames: ['client'],
  });
  const refused = metrics.counter({
    name: 'auth_token_requests_refused_total',
    help: 'Token requests refused, by OAuth error code.',
    labelNames: ['error'],
  });

  async function token(req, res) {
    if (!req.is('application/x-www-form-urlencoded')) {
      throw oauthError(400, 'invalid_request', 'the body must be application/x-www-form-urlencoded');
    }
    for (const [name, value] of Object.entries(req.body)) {
      if (Array.isArray(value)) throw oauthError(400, 'invalid_request', `${name} must be given once`);
    }
    const credentials = credentialsOf(req);
    const grantType = req.body.grant_type;
    if (grantType === undefined) throw oauthError(400, 'invalid_request', 'grant_type is required');
    const client = await authenticate(clients, credentials.id, credentials.secret);
    if (!client) {
      const challenge = credentials.basic ? { 'www-authenticate': 'Basic realm="token"' } : {};
      throw oauthError(401, 'invalid_client', 'client authentication failed', challenge);
    }
    if (grantType !== 'client_credentials') {
      throw oauthError(400, 'unsupported_grant_type', 'only client_credentials is supported');
    }
    const scopes = grantedScopes(client, req.body.scope);
    const issuedAt = Math.floor(now() / 1000);
    const accessToken = await new SignJWT({ scope: scopes.join(' '), client_id: client.id })
      // typ must be JWT: Kong's jwt plugin refuses any other (RFC 9068's at+jwt included).
      .setProtectedHeader({ alg: ALGORITHM, kid: keys.kid, typ: 'JWT' })
      .setIssuer(config.issuer)
      .setSubject(client.id)
      .setAudience(config.audience)
      .setIssuedAt(issuedAt)
      .setNotBefore(issuedAt)
      .setExpirationTime(issuedAt + config.tokenTtlSeconds)
      .setJti(randomUUID())
      .sign(keys.privateKey);
    issued.inc({ client: client.id });
    res.locals.principal = client.id;
    logger.info({ event: { action: 'token-issued', outcome: 'success' }, user: { id: client.id } }, `token issued to ${client.id}`);
    res
      .set(NO_STORE)
      .json({ access_token: accessToken, token_type: 'Bearer', expires_in: config.tokenTtlSeconds, scope: scopes.join(' ') });
  }

  return createService({
    name: 'auth',
    logger,
    metrics,
    ready: async () => ({ ready: true, checks: { signingKey: 'loaded', clients: `${clients.size} loaded` } }),
    routes(app) {
      app.post('/oauth/token', express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 20 }), async (req, res) => {
        req.body ??= {};
        try {
          await token(req, res);
        } catch (error) {
          if (error instanceof HttpError) refused.inc({ error: error.body.error });
          throw error;
        }
      });
      app.all('/oauth/token', (req, res) => {
        res.set('allow', 'POST').status(405).json({ error: 'invalid_request', error_description: 'use POST' });
      });
      app.get('/.well-known/jwks.json', (req, res) => {
        res.set('cache-control', 'public, max-age=300').json(keys.jwks);
      });
    },
  });
}
