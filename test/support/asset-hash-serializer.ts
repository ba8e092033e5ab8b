/**
 * Snapshot serializer: masks 64-hex asset hashes so snapshots are about the template,
 * not the bytes of the bundles (which change with every dependency upgrade).
 */
const HASH = /[a-f0-9]{64}/g;

module.exports = {
  test: (value: unknown) => typeof value === 'string' && /[a-f0-9]{64}/.test(value),
  serialize: (value: string) => JSON.stringify(value.replace(HASH, '[ASSET-HASH]')),
};
