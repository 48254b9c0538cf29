import { BlockList, isIP } from "node:net";
import { clientAddress, type ForwardedHeader, forwardedChain } from "./forwarded.js";

/** NetworkRulesOptions are the operator's IP and country rules. */
export interface NetworkRulesOptions {
  /** CIDRs or addresses allowed in; empty allows everyone not denied. */
  readonly allow: readonly string[];
  /** CIDRs or addresses kept out; deny wins over allow. */
  readonly deny: readonly string[];
  /** Proxies whose forwarding and country headers are believed. */
  readonly trustedProxies: readonly string[];
  /** The header the trusted proxies name the client in; the other one is ignored. */
  readonly forwardedHeader: ForwardedHeader;
  /** The header a trusted proxy puts the country in, for example "cf-ipcountry". */
  readonly countryHeader: string;
  /** ISO 3166 country codes allowed in; empty allows every country not blocked. */
  readonly allowCountries: readonly string[];
  /** ISO 3166 country codes kept out. */
  readonly blockCountries: readonly string[];
  /** Whether a request whose country is not known gets in when country rules are set. */
  readonly allowUnknownCountry: boolean;
  /** Looks an address up in a country database, when one is configured. */
  readonly countryOf?: ((ip: string) => string | undefined) | undefined;
}

/** Peer is where a request comes from, as the rules see it. */
export interface Peer {
  /** The client's address: the socket's, or the one a trusted proxy forwarded. */
  readonly ip: string;
  /** Its country, when a trusted proxy said; empty when not known. */
  readonly country: string;
}

/** unmapped turns an IPv4-mapped IPv6 address (::ffff:10.0.0.1) into its IPv4 form. */
export function unmapped(address: string): string {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return match ? (match[1] as string) : address;
}

/** blockListOf parses CIDRs ("10.0.0.0/8", "2001:db8::/32") and single addresses. */
export function blockListOf(entries: readonly string[], setting: string): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = "", prefix] = entry.split("/");
    const family = isIP(address);
    const bits = prefix === undefined ? (family === 6 ? 128 : 32) : Number(prefix);
    if (family === 0 || !Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32)) {
      throw new Error(`${setting}: ${JSON.stringify(entry)} is not an IP address or CIDR`);
    }
    list.addSubnet(address, bits, family === 6 ? "ipv6" : "ipv4");
  }
  return list;
}

function contains(list: BlockList, address: string): boolean {
  const ip = unmapped(address);
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 6 ? "ipv6" : "ipv4");
}

/** NetworkRules decide from an address and headers whether a peer may come in. */
export interface NetworkRules {
  /** peerOf works out the peer; forwarding headers count only from trusted proxies. */
  peerOf(socketAddress: string, headers: Record<string, string | string[] | undefined>): Peer;
  /** refusalOf is why the peer is kept out, or undefined when it may come in. */
  refusalOf(peer: Peer): string | undefined;
  /** trustsProxy tells whether an address is one of the trusted proxies. */
  trustsProxy(address: string): boolean;
}

/** matcherOf tells whether an address is in the CIDRs; with none, it checks nothing. */
function matcherOf(entries: readonly string[], setting: string): (address: string) => boolean {
  const list = blockListOf(entries, setting);
  return entries.length === 0 ? () => false : (address) => contains(list, address);
}

/** createNetworkRules compiles the rules once. */
export function createNetworkRules(options: NetworkRulesOptions): NetworkRules {
  const allowed = matcherOf(options.allow, "ipAllow");
  const denied = matcherOf(options.deny, "ipDeny");
  const viaProxy = matcherOf(options.trustedProxies, "trustedProxies");
  const allowCountries = new Set(options.allowCountries.map((c) => c.toUpperCase()));
  const blockCountries = new Set(options.blockCountries.map((c) => c.toUpperCase()));
  const countryRules = allowCountries.size > 0 || blockCountries.size > 0;
  const countryOf = (ip: string) => options.countryOf?.(ip)?.toUpperCase() ?? "";
  return {
    trustsProxy: viaProxy,
    peerOf(socketAddress, headers) {
      const direct = unmapped(socketAddress);
      if (!viaProxy(direct)) return { ip: direct, country: countryOf(direct) };
      const chain = forwardedChain(headers, options.forwardedHeader);
      const ip = clientAddress(direct, chain, viaProxy, unmapped);
      const header = headers[options.countryHeader];
      // A trusted proxy's country header wins; else the database's answer for the client's address.
      return {
        ip,
        country:
          typeof header === "string" && header.trim() ? header.trim().toUpperCase() : countryOf(ip),
      };
    },
    refusalOf(peer) {
      if (denied(peer.ip)) return `address ${peer.ip} is denied`;
      if (options.allow.length > 0 && !allowed(peer.ip)) return `address ${peer.ip} is not allowed`;
      if (!countryRules) return undefined;
      if (peer.country === "" || peer.country === "XX") {
        return options.allowUnknownCountry
          ? undefined
          : "country unknown, and unknown countries are not allowed";
      }
      if (blockCountries.has(peer.country)) return `country ${peer.country} is blocked`;
      if (allowCountries.size > 0 && !allowCountries.has(peer.country))
        return `country ${peer.country} is not allowed`;
      return undefined;
    },
  };
}
