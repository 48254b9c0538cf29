import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { expect, it } from "vitest";
import { AuditEventSchema } from "../../gen/noizylab/agent/v1/audit_pb.js";
import { Scope } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import type { StoredKey } from "./key-store.js";
import type { Store } from "./store.js";

/**
 * describeDoorStoresContract is what every Store engine must show of the stores the door
 * uses: API keys and nonces, the audit trail and the rate-limit buckets (see
 * describeStoreContract, which runs it).
 */
export function describeDoorStoresContract(open: () => Promise<Store>): void {
  it("keeps keys, revokes them once, and refuses a nonce used twice until it expires", async () => {
    const store = await open();
    const key: StoredKey = {
      keyId: "k1",
      name: "ci",
      scopes: [Scope.TASKS_SUBMIT, Scope.TASKS_READ],
      secretHash: new Uint8Array([1, 2, 3]),
      createdAt: 1_000,
      expiresAt: null,
      revokedAt: null,
      rateLimit: { perSecond: 2.5, burst: 5 },
      signingKey: new Uint8Array([4, 5]),
      requireSignature: true,
    };
    await store.keys.insert(key);
    await store.keys.insert({ ...key, keyId: "k2", createdAt: 2_000, rateLimit: null });
    // Engines may read bytes back as Buffers: compare the bytes.
    const bytesOf = (stored: StoredKey | undefined) =>
      stored && {
        ...stored,
        secretHash: [...stored.secretHash],
        signingKey: [...stored.signingKey],
      };
    expect(bytesOf(await store.keys.get("k1"))).toEqual(bytesOf(key));
    expect((await store.keys.list()).map((k) => k.keyId)).toEqual(["k2", "k1"]);
    expect(await store.keys.count()).toBe(2);
    const revoked: (string | undefined)[] = [];
    store.keys.onRevoke((keyId) => revoked.push(keyId));
    expect((await store.keys.revoke("k1", 5_000))?.revokedAt).toBe(5_000);
    // Its listeners hear of it: at once, or through the shared store's feed.
    await expect.poll(() => revoked).toContain("k1");
    expect((await store.keys.revoke("k1", 9_000))?.revokedAt).toBe(5_000);
    expect(await store.keys.get("nobody")).toBeUndefined();
    const soon = Date.now() + 60_000;
    expect(await store.keys.useNonce("k1", "n1", soon)).toBe(true);
    expect(await store.keys.useNonce("k1", "n1", soon)).toBe(false);
    expect(await store.keys.useNonce("k2", "n1", soon)).toBe(true);
    expect(await store.keys.useNonce("k1", "old", Date.now() - 1)).toBe(true);
    expect(await store.keys.useNonce("k1", "old", soon)).toBe(true);
    await store.close();
  });

  it("appends, filters, pages and purges the audit trail", async () => {
    const store = await open();
    const event = (time: number, keyId: string, reason = "") =>
      create(AuditEventSchema, {
        time: timestampFromMs(time),
        keyId,
        procedure: "/noizylab.agent.v1.TaskService/Submit",
        peerIp: "127.0.0.1",
        code: reason ? "permission_denied" : "ok",
        bytesIn: 10n,
        bytesOut: 20n,
        reason,
      });
    await store.audit.insert([event(1_000, "a"), event(2_000, "b", "no scope")]);
    await store.audit.insert([event(3_000, "a")]);
    const first = await store.audit.list({ refusedOnly: false, limit: 2 });
    expect(first.events.map((e) => timestampMs(e.time ?? timestampFromMs(0)))).toEqual([
      3_000, 2_000,
    ]);
    expect(first.events[0]).toMatchObject({ keyId: "a", bytesIn: 10n, bytesOut: 20n });
    const rest = await store.audit.list({
      refusedOnly: false,
      limit: 2,
      beforeCursor: first.nextCursor,
    });
    expect(rest.events.map((e) => e.keyId)).toEqual(["a"]);
    expect(rest.nextCursor).toBeUndefined();
    const refused = await store.audit.list({ refusedOnly: true, limit: 10 });
    expect(refused.events.map((e) => e.reason)).toEqual(["no scope"]);
    const window = await store.audit.list({
      refusedOnly: false,
      since: 1_500,
      until: 3_000,
      keyId: "b",
      limit: 10,
    });
    expect(window.events).toHaveLength(1);
    expect(await store.audit.purge(2_500)).toBe(2);
    expect((await store.audit.list({ refusedOnly: false, limit: 10 })).events).toHaveLength(1);
    await store.close();
  });

  it("hands out a bucket's burst, then says how long to wait", async () => {
    const store = await open();
    const limit = { perSecond: 1, burst: 3 };
    const waits = [];
    for (let i = 0; i < 4; i++) waits.push(await store.rateLimiter.take("k1", limit));
    expect(waits.slice(0, 3)).toEqual([0, 0, 0]);
    expect(waits[3]).toBeGreaterThan(900);
    expect(waits[3]).toBeLessThanOrEqual(1_000);
    expect(await store.rateLimiter.take("k2", limit)).toBe(0);
    await store.close();
  });
}
