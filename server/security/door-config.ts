import type { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import type { AgentConfig } from "../config.js";
import { openCountryDatabase } from "./country-database.js";
import type { DoorOptions } from "./door.js";
import type { KeyManager } from "./key-manager.js";
import { createNetworkRules } from "./network-rules.js";
import type { RateLimit, RateLimiter } from "./rate-limiter.js";
import { parseScope } from "./scopes.js";

/** listOf splits a comma-separated setting. */
export function listOf(value: string): string[] {
  return value
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}

/** scopeLimitsOf reads "tasks:submit=50/100,tasks:read=500/1000" (per second / burst). */
export function scopeLimitsOf(value: string): Map<Scope, RateLimit> {
  const limits = new Map<Scope, RateLimit>();
  for (const item of listOf(value)) {
    const match = /^([a-z:]+)=(\d+(?:\.\d+)?)\/(\d+)$/.exec(item);
    const scope = match ? parseScope(match[1] as string) : undefined;
    if (!match || scope === undefined || Number(match[2]) <= 0 || Number(match[3]) < 1) {
      throw new Error(
        `scopeRateLimits: ${JSON.stringify(item)} is not <scope>=<per second>/<burst>`,
      );
    }
    limits.set(scope, { perSecond: Number(match[2]), burst: Number(match[3]) });
  }
  return limits;
}

/**
 * doorOptionsOf builds the door's options from the config, on the store's rate-limit buckets
 * and nonces; a bad CIDR throws, naming its setting.
 */
export function doorOptionsOf(
  config: AgentConfig,
  keys: KeyManager,
  store: { readonly rateLimiter: RateLimiter; readonly keys: DoorOptions["nonces"] },
): DoorOptions {
  return {
    keys,
    nonces: store.keys,
    maxStreamsPerKey: config.maxStreamsPerKey,
    maxSessionsPerKey: config.wsMaxSessionsPerKey,
    openPaths: listOf(config.openPaths),
    network: createNetworkRules({
      allow: listOf(config.ipAllow),
      deny: listOf(config.ipDeny),
      trustedProxies: listOf(config.trustedProxies),
      forwardedHeader: config.forwardedHeader,
      countryHeader: config.countryHeader.toLowerCase(),
      allowCountries: listOf(config.allowCountries),
      blockCountries: listOf(config.blockCountries),
      allowUnknownCountry: config.unknownCountry === "allow",
      countryOf: config.countryDatabase ? openCountryDatabase(config.countryDatabase) : undefined,
    }),
    limiter: store.rateLimiter,
    defaultRateLimit: { perSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst },
    scopeRateLimits: scopeLimitsOf(config.scopeRateLimits),
  };
}
