import { version } from "../version.js";

/** The guides in docs/, by what they tell. */
const guides = {
  api: "docs/api.md",
  tasks: "docs/tasks.md",
  security: "docs/security.md",
  realtime: "docs/realtime.md",
  plugins: "docs/plugins.md",
  configuration: "docs/configuration.md",
  scaling: "docs/scaling.md",
};

/**
 * serviceDocument is what `GET /` answers, to anyone, without a key: what this server is and
 * where its ways in are. It names nothing secret (no keys, no settings, no addresses).
 */
export function serviceDocument(services: readonly string[]): Uint8Array {
  const document = {
    name: "cloudagent",
    version,
    services: [...new Set(services)].sort(),
    endpoints: {
      health: "/grpc.health.v1.Health/Check (no key needed)",
      reflection: "grpc.reflection.v1.ServerReflection (with a key)",
      websocket: "/ws (a key in the first frame)",
    },
    protocols: ["connect", "grpc", "grpc-web"],
    auth: 'send "authorization: Bearer <key>" or "x-api-key: <key>"; see docs/security.md',
    docs: guides,
  };
  return new TextEncoder().encode(`${JSON.stringify(document, null, 2)}\n`);
}
