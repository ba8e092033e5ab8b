/** The S3 key prefixes of an analyzer (processed records, manifests, analyses), checked once for created and imported analyzers. */

const KEY_PREFIX = /^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*\/$/;

/** Throws, naming the prop, for a prefix that is not a key prefix ending with `/`. */
export function validateKeyPrefixes(prefixes: { [name: string]: string | undefined }): void {
  for (const [name, prefix] of Object.entries(prefixes)) {
    if (prefix !== undefined && !KEY_PREFIX.test(prefix)) {
      throw new Error(`${name} must be a key prefix ending with "/", e.g. "analyses/", got "${prefix}"`);
    }
  }
}
