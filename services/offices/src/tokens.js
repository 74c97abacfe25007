// Defence in depth: Kong already verified the caller's token, and the API verifies it again with
// the site's public key(s), so a request that bypasses the gateway (a mis-set route, a pod on
// the network) is refused all the same. Only RS256 is accepted: `alg: none` and HS256 made with
// the public key as an HMAC secret (algorithm confusion) fail before any signature check.
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { calculateJwkThumbprint, createLocalJWKSet, errors, exportJWK, jwtVerify } from 'jose';

import { HttpError } from '@natplat/service-kit';

export const ALGORITHMS = ['RS256'];

export async function loadVerificationKeys(files) {
  const keys = [];
  for (const file of files) {
    const key = createPublicKey(readFileSync(file));
    if (key.asymmetricKeyType !== 'rsa') throw new Error(`${file}: not an RSA public key`);
    const jwk = await exportJWK(key);
    keys.push({ ...jwk, kid: await calculateJwkThumbprint(jwk, 'sha256'), alg: 'RS256', use: 'sig' });
  }
  return createLocalJWKSet({ keys });
}

function challenge(error, description) {
  return new HttpError(
    error === 'insufficient_scope' ? 403 : 401,
    { error, error_description: description },
    { 'www-authenticate': `Bearer error="${error}", error_description="${description}"` },
  );
}

/**
 * Remembers tokens whose signature and claims were verified, until they expire: the signature of
 * a given token against a given key set cannot change, so checking it once is enough. Bounded;
 * the oldest entry goes first. Expiry and not-before are checked again on every use.
 */
export class VerifiedTokens {
  constructor(limit = 10_000) {
    this.limit = limit;
    this.entries = new Map();
  }

  get(token, nowSeconds, toleranceSeconds) {
    const payload = this.entries.get(token);
    if (!payload) return undefined;
    if (payload.exp + toleranceSeconds <= nowSeconds || payload.nbf - toleranceSeconds > nowSeconds) {
      this.entries.delete(token);
      return undefined;
    }
    return payload;
  }

  set(token, payload) {
    if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value);
    this.entries.set(token, payload);
  }
}

/** Express middleware factory: `requireScope('offices.read')`. */
export function createTokenGuard({ keySet, audience, issuer, clockToleranceSeconds = 5, onRejected = () => {}, verified = new VerifiedTokens() }) {
  async function verify(token) {
    const known = verified.get(token, Math.floor(Date.now() / 1000), clockToleranceSeconds);
    if (known) return known;
    const { payload } = await jwtVerify(token, keySet, {
      algorithms: ALGORITHMS,
      audience,
      ...(issuer ? { issuer } : {}),
      clockTolerance: clockToleranceSeconds,
      requiredClaims: ['exp', 'nbf', 'sub'],
    });
    verified.set(token, payload);
    return payload;
  }

  return function requireScope(scope) {
    return async function guard(req, res, next) {
      const header = req.get('authorization') ?? '';
      const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/.exec(header);
      if (!match) {
        onRejected('missing');
        throw new HttpError(401, { error: 'invalid_request', error_description: 'a bearer token is required' }, { 'www-authenticate': 'Bearer' });
      }
      let payload;
      try {
        payload = await verify(match[1]);
      } catch (error) {
        const reason = error instanceof errors.JOSEError ? error.code : 'ERR_INVALID';
        onRejected(reason);
        throw challenge('invalid_token', 'the access token is invalid or expired');
      }
      const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
      if (!scopes.includes(scope)) {
        onRejected('insufficient_scope');
        throw challenge('insufficient_scope', `this call needs the ${scope} scope`);
      }
      res.locals.principal = payload.sub;
      next();
    };
  };
}
