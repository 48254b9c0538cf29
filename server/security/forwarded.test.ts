import { describe, expect, it } from "vitest";
import { clientAddress, forwardedChain } from "./forwarded.js";

const trusted = (address: string) => address.startsWith("10.");
const same = (address: string) => address;

describe("forwarded addresses", () => {
  it("reads each hop of X-Forwarded-For or Forwarded, without quotes, brackets and ports", () => {
    const headers = {
      "x-forwarded-for": ["1.2.3.4, [2001:db8::1]:4711", "5.6.7.8:80"],
      forwarded:
        'for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711", for=unknown',
    };
    expect(forwardedChain(headers, "x-forwarded-for")).toEqual([
      "1.2.3.4",
      "2001:db8::1",
      "5.6.7.8",
    ]);
    expect(forwardedChain(headers, "forwarded")).toEqual([
      "192.0.2.60",
      "2001:db8:cafe::17",
      "unknown",
    ]);
    expect(forwardedChain({}, "forwarded")).toEqual([]);
  });

  it("takes the first untrusted address from the right", () => {
    const walk = (chain: string[]) => clientAddress("10.0.0.1", chain, trusted, same);
    // The client wrote 6.6.6.6 itself; the first proxy appended the address it saw.
    expect(walk(["6.6.6.6", "1.2.3.4", "10.0.0.2"])).toBe("1.2.3.4");
    expect(walk(["1.2.3.4"])).toBe("1.2.3.4");
    // Only proxies: the leftmost, the one nearest the client.
    expect(walk(["10.0.0.3", "10.0.0.2"])).toBe("10.0.0.3");
    // A hop that is no address stops the walk at the proxy that wrote it.
    expect(walk(["1.2.3.4", "unknown", "10.0.0.2"])).toBe("10.0.0.2");
    expect(walk(["garbage"])).toBe("10.0.0.1");
    expect(walk([])).toBe("10.0.0.1");
  });
});
