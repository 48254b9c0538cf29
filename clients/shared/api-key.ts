// A key reads "ca_<key id>_<secret>": the id is public (logs and audit rows name it), the
// secret is 256 random bits in base64url.
const keyPattern = /^ca_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/** ParsedKey is a key split into its id and secret. */
export interface ParsedKey {
  readonly keyId: string;
  readonly secret: string;
}

/** parseKey splits a key; undefined when it is not shaped like one. */
export function parseKey(key: string): ParsedKey | undefined {
  const match = keyPattern.exec(key);
  return match ? { keyId: match[1] as string, secret: match[2] as string } : undefined;
}
