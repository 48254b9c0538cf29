// WebSocket clients for the gateway's tests: raw frames, every server frame collected.
import { create, fromBinary, fromJsonString, toBinary, toJsonString } from "@bufbuild/protobuf";
import WebSocket from "ws";
import {
  ClientFrameSchema,
  type ServerFrame,
  ServerFrameSchema,
} from "../../gen/noizylab/agent/v1/realtime_pb.js";
import type { TestAgent } from "../test-support.js";
import { binarySubprotocol } from "./frame-codec.js";

/** ClientInit is a client frame as create() takes it. */
export type ClientInit = Parameters<typeof create<typeof ClientFrameSchema>>[1];

/** TestSocket is a raw WebSocket client that collects every server frame. */
export class TestSocket {
  readonly frames: ServerFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  constructor(
    readonly ws: WebSocket,
    private readonly binary: boolean,
  ) {
    ws.on("message", (data: Buffer, isBinary) => {
      this.frames.push(
        isBinary
          ? fromBinary(ServerFrameSchema, data)
          : fromJsonString(ServerFrameSchema, data.toString()),
      );
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) =>
      ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  send(frame: ClientInit): void {
    const message = create(ClientFrameSchema, frame);
    this.ws.send(
      this.binary ? toBinary(ClientFrameSchema, message) : toJsonString(ClientFrameSchema, message),
    );
  }

  /** next waits for the first frame matching the predicate that has not been taken yet. */
  async next(match: (frame: ServerFrame) => boolean): Promise<ServerFrame> {
    for (;;) {
      const index = this.frames.findIndex(match);
      if (index >= 0) return this.frames.splice(index, 1)[0] as ServerFrame;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }
}

/** connect opens /ws with the agent's admin key in its headers, and waits for its welcome. */
export async function connect(
  server: TestAgent,
  options: { binary?: boolean; path?: string; autoPong?: boolean } = {},
) {
  const url = new URL(options.path ?? "/ws", server.url);
  url.protocol = "ws:";
  const ws = new WebSocket(url, options.binary ? [binarySubprotocol] : [], {
    autoPong: options.autoPong ?? true,
    headers: { authorization: `Bearer ${server.apiKey}` },
  });
  const socket = new TestSocket(ws, options.binary ?? false);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  await socket.next((f) => f.kind.case === "welcome");
  return socket;
}

/** connectWith opens /ws with the given headers, and waits for its welcome. */
export async function connectWith(target: { readonly url: URL }, headers: Record<string, string>) {
  const ws = new WebSocket(socketUrl(target), [], { headers });
  const socket = new TestSocket(ws, false);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  await socket.next((f) => f.kind.case === "welcome");
  return socket;
}

/**
 * upgradeStatus tries an upgrade to /ws and says how it was answered: 101 (the session is
 * closed at once), or the refusal's status and retry-after.
 */
export function upgradeStatus(
  target: { readonly url: URL },
  headers: Record<string, string>,
): Promise<{ status: number; retry?: string | undefined }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(socketUrl(target), [], { headers });
    ws.once("open", () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.once("unexpected-response", (_request, response) => {
      resolve({ status: response.statusCode ?? 0, retry: response.headers["retry-after"] });
      response.resume();
    });
    ws.once("error", () => {});
  });
}

/** socketUrl is the ws: address of a server's /ws. */
function socketUrl(target: { readonly url: URL }): URL {
  const url = new URL("/ws", target.url);
  url.protocol = "ws:";
  return url;
}

/** kind matches frames of a kind. */
export const kind = (name: ServerFrame["kind"]["case"]) => (frame: ServerFrame) =>
  frame.kind.case === name;
