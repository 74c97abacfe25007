// The offices directory, the API's system of record: a JSON publication mounted from a
// ConfigMap (or the copy baked into the image). It is read and validated on every lookup, so a
// new publication is served as soon as Kubernetes updates the mounted file; the Redis cache in
// front of it is what keeps that cost off the hot path.
import { readFile } from 'node:fs/promises';

const ID = /^[a-z0-9][a-z0-9-]{1,62}$/;

function validate(document, file) {
  if (!Array.isArray(document?.offices)) throw new Error(`${file}: expected {"offices": [...]}`);
  for (const [index, office] of document.offices.entries()) {
    if (!ID.test(office?.id ?? '') || typeof office.name !== 'string' || typeof office.region !== 'string') {
      throw new Error(`${file}: offices[${index}] needs an id, a name and a region`);
    }
  }
  return document.offices;
}

export function createDirectory({ file }) {
  async function all() {
    return validate(JSON.parse(await readFile(file, 'utf8')), file);
  }
  return {
    async list({ region } = {}) {
      const offices = await all();
      const selected = region ? offices.filter((office) => office.region === region) : offices;
      return selected.map(({ id, name, region: where, city }) => ({ id, name, region: where, city }));
    },
    async get(id) {
      return (await all()).find((office) => office.id === id);
    },
    async check() {
      return (await all()).length;
    },
  };
}

export function isOfficeId(value) {
  return ID.test(value);
}

/** An office as the API serves it: what `get` returns for `id`. */
export function isOffice(value, id) {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    value.id === id &&
    typeof value.name === 'string' &&
    typeof value.region === 'string'
  );
}

/** A list as `list` returns it: office summaries, all of `region` when one is given. */
export function isOfficeList(value, region) {
  return (
    Array.isArray(value) &&
    value.every(
      (office) =>
        typeof office === 'object' &&
        office !== null &&
        ID.test(office.id ?? '') &&
        typeof office.name === 'string' &&
        typeof office.region === 'string' &&
        (region === undefined || office.region === region),
    )
  );
}
