// Defence in depth: Kong already verified the caller's token, and the API verifies it again with
// the site's public key(s), so a request that bypasses the gateway (a mis-set route, a pod on
// the network) is refused all the same. Only RS256 is accepted: `alg: none` and HS256 made with
// the public key as an HMAC secret (algorithm confusion) fail before any signature check.
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { createLocalJWKSet, errors, exportJWK, jwtVerify } from 'jose';

import { HttpError } from './service.js';

export const ALGORITHMS = ['RS256'];
export const MIN_RSA_BITS = 2048; // NIST SP 800-131A; the platform's own keys are 3072 bits

/**
 * The id Keycloak gives an imported RSA key, hence the `kid` of the tokens it signs with it:
 * base64url of the SHA-256 of the key's DER SubjectPublicKeyInfo. The program names Kong's
 * credential the same way (infra/natplat/layers/signing.py).
 */
export function keyId(key) {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('base64url');
}

/** The site's public keys as a JWK set. Every problem names the variable and the file. */
export async function loadVerificationKeys(files, variable = 'JWT_PUBLIC_KEY_FILES') {
  const keys = [];
  for (const file of files) {
    let key;
    try {
      key = createPublicKey(readFileSync(file));
    } catch (error) {
      throw new Error(`${variable}: ${file} is not a PEM public key (${error.code ?? error.message})`);
    }
    if (key.asymmetricKeyType !== 'rsa') throw new Error(`${variable}: ${file} is not an RSA public key`);
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      throw new Error(`${variable}: ${file} is a ${bits}-bit RSA key; at least ${MIN_RSA_BITS} bits are required`);
    }
    const jwk = await exportJWK(key);
    keys.push({ ...jwk, kid: keyId(key), alg: 'RS256', use: 'sig' });
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
 * What remembering one verified token costs, in bytes, counted high: V8 keeps a token (ASCII) at
 * one byte per character, a parsed payload at up to about twice its JSON, and a Map entry with an
 * object's header comes on top (MEMO_ENTRY_OVERHEAD). The payload's JSON is the token's middle
 * segment decoded: its length (the bytes jose parsed) is read off the base64url, not by
 * serializing the payload again on every verification.
 */
export const MEMO_ENTRY_OVERHEAD = 512;
export function memoCost(token) {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  const encoded = first < 0 || second < 0 ? 0 : second - first - 1;
  return token.length + 2 * Math.ceil((encoded * 3) / 4) + MEMO_ENTRY_OVERHEAD;
}

/** The memo's default bound: small against the smallest profile's 192 MiB service limit. */
export const MEMO_MAX_BYTES = 16 * 2 ** 20;

/**
 * Remembers tokens whose signature and claims were verified, until they expire: the signature of
 * a given token against a given key set cannot change, so checking it once is enough. Bounded in
 * bytes (`maxBytes`, counted by memoCost), not in entries: tokens are a few hundred bytes or, with
 * many claims, tens of kilobytes, and a count bound let large tokens take the process past its
 * memory limit. The oldest entry goes first; a token too large for the whole bound is verified
 * every time and never remembered. Expiry and not-before are checked again on every use.
 */
export class VerifiedTokens {
  constructor({ maxBytes = MEMO_MAX_BYTES } = {}) {
    this.maxBytes = maxBytes;
    this.bytes = 0;
    this.entries = new Map(); // token → { payload, cost }
  }

  get(token, nowSeconds, toleranceSeconds) {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    const { payload } = entry;
    if (payload.exp + toleranceSeconds <= nowSeconds || (payload.nbf ?? 0) - toleranceSeconds > nowSeconds) {
      this.#drop(token, entry);
      return undefined;
    }
    return payload;
  }

  set(token, payload) {
    const cost = memoCost(token);
    if (cost > this.maxBytes) return;
    const known = this.entries.get(token);
    if (known) this.#drop(token, known);
    while (this.bytes + cost > this.maxBytes) {
      const [oldest, entry] = this.entries.entries().next().value;
      this.#drop(oldest, entry);
    }
    this.entries.set(token, { payload, cost });
    this.bytes += cost;
  }

  #drop(token, entry) {
    this.entries.delete(token);
    this.bytes -= entry.cost;
  }
}

/**
 * Express middleware factory: `requireScope('offices.read')`. As strict as the gateway or
 * stricter: issuer and audience always checked, and, like Kong's `maximum_expiration`, a token
 * may not live longer than `maxLifetimeSeconds` (the issuer's lifetime plus the clock skew the
 * gateway allows), nor be issued in the future.
 */
export function createTokenGuard({ keySet, audience, issuer, maxLifetimeSeconds, clockToleranceSeconds = 5, onRejected = () => {}, verified = new VerifiedTokens() }) {
  if (!issuer || !audience || !maxLifetimeSeconds) throw new TypeError('the token guard needs an issuer, an audience and a maximum lifetime');
  async function verify(token) {
    const now = Math.floor(Date.now() / 1000);
    const known = verified.get(token, now, clockToleranceSeconds);
    if (known) return known;
    const { payload } = await jwtVerify(token, keySet, {
      algorithms: ALGORITHMS,
      audience,
      issuer,
      clockTolerance: clockToleranceSeconds,
      maxTokenAge: maxLifetimeSeconds,
      // Keycloak's access tokens carry no `nbf`; when one is present jose still checks it.
      requiredClaims: ['exp', 'iat', 'sub'],
    });
    if (payload.exp - now > maxLifetimeSeconds + clockToleranceSeconds || payload.exp - payload.iat > maxLifetimeSeconds) {
      throw new errors.JWTClaimValidationFailed('the token lives longer than the gateway allows', payload, 'exp', 'check_failed');
    }
    // jose types the registered time claims, the issuer and the audience; the claims the services
    // read beyond those are typed here: a wrong type is an invalid token, never a principal.
    if (typeof payload.sub !== 'string' || payload.sub === '') {
      throw new errors.JWTClaimValidationFailed('"sub" must be a non-empty string', payload, 'sub', 'invalid');
    }
    if (payload.scope !== undefined && typeof payload.scope !== 'string') {
      throw new errors.JWTClaimValidationFailed('"scope" must be a string', payload, 'scope', 'invalid');
    }
    verified.set(token, payload);
    return payload;
  }

  return function requireScope(scope) {
    return async function guard(req, res, next) {
      const header = req.get('authorization') ?? '';
      // RFC 7235: the scheme is case-insensitive (Kong accepts `bearer` too).
      const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/i.exec(header);
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

/** The token check's configuration, the same for every service that verifies the site's tokens. */
export const TOKEN_SPEC = {
  jwtPublicKeyFiles: { env: 'JWT_PUBLIC_KEY_FILES', type: 'files', required: true },
  jwtAudience: { env: 'JWT_AUDIENCE', type: 'string', required: true },
  jwtIssuer: { env: 'JWT_ISSUER', type: 'url', required: true },
  // Kong's jwt `maximum_expiration`: the issuer's token lifetime plus the clock skew it allows.
  jwtMaxLifetimeSeconds: { env: 'JWT_MAX_LIFETIME_SECONDS', type: 'int', min: 60, max: 86400, default: 960 },
};

/** A token guard from a config read with TOKEN_SPEC. */
export async function tokenGuardFromConfig(config, options = {}) {
  return createTokenGuard({
    keySet: await loadVerificationKeys(config.jwtPublicKeyFiles),
    audience: config.jwtAudience,
    issuer: config.jwtIssuer,
    maxLifetimeSeconds: config.jwtMaxLifetimeSeconds,
    ...options,
  });
}
