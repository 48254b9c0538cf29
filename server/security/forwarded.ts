import { isIP } from "node:net";

/** ForwardedHeader is the header the trusted proxies write the client's address in. */
export type ForwardedHeader = "x-forwarded-for" | "forwarded";

type Headers = Record<string, string | string[] | undefined>;

const joined = (value: string | string[] | undefined) =>
  Array.isArray(value) ? value.join(",") : (value ?? "");

/**
 * hostOf is the address of one forwarded hop, without quotes, brackets or port
 * ("[2001:db8::1]:4711" is 2001:db8::1, "192.0.2.1:80" is 192.0.2.1); anything else as it is.
 */
function hostOf(hop: string): string {
  const value = hop.trim().replace(/^"(.*)"$/, "$1");
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
  if (bracketed) return bracketed[1] as string;
  const withPort = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(value);
  return withPort ? (withPort[1] as string) : value;
}

/** forwardedFor is the for= value of one element of a Forwarded header (RFC 7239), if any. */
function forwardedFor(element: string): string | undefined {
  for (const pair of element.split(";")) {
    const at = pair.indexOf("=");
    if (at > 0 && pair.slice(0, at).trim().toLowerCase() === "for") return pair.slice(at + 1);
  }
  return undefined;
}

/**
 * forwardedChain is the chain of addresses a request was forwarded for, oldest first, as the
 * configured header tells it: "client, proxy1, proxy2" in X-Forwarded-For, the for= of each
 * element in Forwarded. Each proxy appends the address it received the request from, so only
 * the entries on the right, written by trusted proxies, can be believed.
 */
export function forwardedChain(headers: Headers, header: ForwardedHeader): string[] {
  const value = joined(headers[header]);
  if (value === "") return [];
  const hops = value.split(",");
  return header === "forwarded"
    ? hops.map((element) => hostOf(forwardedFor(element) ?? ""))
    : hops.map(hostOf);
}

/**
 * clientAddress walks a forwarded chain from the right, past the trusted proxies, and returns
 * the first address no trusted proxy has (the client as the outermost trusted proxy saw it).
 * A hop that is no address ("unknown", a proxy's obfuscated name) stops the walk at the
 * trusted proxy that wrote it; a chain of trusted proxies only gives its leftmost.
 */
export function clientAddress(
  direct: string,
  chain: readonly string[],
  trusted: (address: string) => boolean,
  normalize: (address: string) => string,
): string {
  let client = direct;
  for (let index = chain.length - 1; index >= 0; index--) {
    const hop = normalize(chain[index] as string);
    if (isIP(hop) === 0) break;
    client = hop;
    if (!trusted(hop)) break;
  }
  return client;
}
