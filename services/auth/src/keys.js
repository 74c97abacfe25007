// The signing key (a mounted Secret holding the RSA private key that Pulumi generates per site)
// and the public keys the JWKS publishes. During a rotation the previous public key stays in the
// JWKS (EXTRA_PUBLIC_KEY_FILES) until every token it signed has expired.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { calculateJwkThumbprint, exportJWK } from 'jose';

export const ALGORITHM = 'RS256';
const MIN_MODULUS_BITS = 2048;

async function publicJwk(publicKey, source) {
  if (publicKey.asymmetricKeyType !== 'rsa') throw new Error(`${source}: not an RSA key`);
  const bits = publicKey.asymmetricKeyDetails.modulusLength;
  if (bits < MIN_MODULUS_BITS) throw new Error(`${source}: ${bits}-bit RSA is too short (at least ${MIN_MODULUS_BITS})`);
  const jwk = await exportJWK(publicKey);
  // The kid is the key's RFC 7638 thumbprint: stable, derived, never configured by hand.
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { ...jwk, kid, use: 'sig', alg: ALGORITHM };
}

export async function loadKeys({ signingKeyFile, extraPublicKeyFiles = [] }) {
  const privateKey = createPrivateKey(readFileSync(signingKeyFile));
  const current = await publicJwk(createPublicKey(privateKey), signingKeyFile);
  const jwks = [current];
  for (const file of extraPublicKeyFiles) {
    const jwk = await publicJwk(createPublicKey(readFileSync(file)), file);
    if (!jwks.some((known) => known.kid === jwk.kid)) jwks.push(jwk);
  }
  return { privateKey, kid: current.kid, jwks: { keys: jwks } };
}
