import type { BlockList } from "node:net";
import { isIP } from "node:net";
import { blockListOf } from "../security/network-rules.js";

/**
 * Addresses outgoing requests may not reach unless the operator allows them: this host
 * (loopback), private and shared networks, link-local ones (where cloud metadata services
 * answer, 169.254.169.254 and fd00:ec2::254), documentation, multicast and reserved ranges,
 * and IPv6 forms that carry an IPv4 address inside (IPv4-mapped ones are checked as IPv4).
 */
const internalRanges = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.0.2.0/24",
  "192.88.99.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/4",
  "240.0.0.0/4",
  "::/128",
  "::1/128",
  "64:ff9b::/96",
  "100::/64",
  "2001::/32",
  "2001:db8::/32",
  "2002::/16",
  "fc00::/7",
  "fe80::/10",
  "ff00::/8",
];

/** AddressPolicy decides which addresses outgoing requests may connect to. */
export interface AddressPolicy {
  /** permits tells whether an IP address may be reached. */
  permits(address: string): boolean;
}

/**
 * createAddressPolicy refuses internal addresses, except those in the operator's allow-list
 * (CIDRs or addresses; `setting` names where they come from in error messages).
 */
export function createAddressPolicy(allow: readonly string[], setting: string): AddressPolicy {
  const internal = blockListOf(internalRanges, "internal ranges");
  const allowed: BlockList = blockListOf(allow, setting);
  return {
    permits(address) {
      const family = isIP(address);
      if (family === 0) return false;
      const type = family === 6 ? "ipv6" : "ipv4";
      return allowed.check(address, type) || !internal.check(address, type);
    },
  };
}
