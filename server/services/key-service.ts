import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { KeyService } from "../../gen/noizylab/agent/v1/key_service_pb.js";
import type { KeyManager } from "../security/key-manager.js";

/** createKeyService translates KeyService RPCs into key manager calls. */
export function createKeyService(keys: KeyManager): ServiceImpl<typeof KeyService> {
  return {
    async createKey(request) {
      const expiresAt = request.expiresAt ? timestampMs(request.expiresAt) : undefined;
      return keys.create({
        name: request.name,
        scopes: request.scopes,
        expiresAt,
        rateLimit: request.rateLimit,
        requireSignature: request.requireSignature,
      });
    },
    async listKeys() {
      return { keys: await keys.list() };
    },
    async revokeKey(request) {
      return { info: await keys.revoke(request.keyId) };
    },
  };
}
