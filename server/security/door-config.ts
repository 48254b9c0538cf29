import type { AgentConfig } from "../config.js";
import { openCountryDatabase } from "./country-database.js";
import type { DoorOptions } from "./door.js";
import type { KeyManager } from "./key-manager.js";
import { createNetworkRules } from "./network-rules.js";
import { createRateLimiter } from "./rate-limiter.js";

/** listOf splits a comma-separated setting. */
function listOf(value: string): string[] {
  return value
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

/** doorOptionsOf builds the door's options from the config; a bad CIDR throws, naming its setting. */
export function doorOptionsOf(config: AgentConfig, keys: KeyManager): DoorOptions {
  return {
    keys,
    openPaths: listOf(config.openPaths),
    network: createNetworkRules({
      allow: listOf(config.ipAllow),
      deny: listOf(config.ipDeny),
      trustedProxies: listOf(config.trustedProxies),
      countryHeader: config.countryHeader.toLowerCase(),
      allowCountries: listOf(config.allowCountries),
      blockCountries: listOf(config.blockCountries),
      allowUnknownCountry: config.unknownCountry === "allow",
      countryOf: config.countryDatabase ? openCountryDatabase(config.countryDatabase) : undefined,
    }),
    limiter: createRateLimiter(),
    defaultRateLimit: { perSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst },
  };
}
