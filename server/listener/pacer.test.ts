import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { setImmediate as nextTurn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { Pacer } from "./pacer.js";
import { takeStreams } from "./take-streams.js";

describe("Pacer", () => {
  it("runs work at once while the turn has room, then round robin across owners, turn by turn", async () => {
    const pacer = new Pacer(2);
    const [flood, other] = [{}, {}];
    const ran: string[] = [];
    for (const piece of ["f1", "f2", "f3", "f4", "f5"]) pacer.run(flood, () => ran.push(piece));
    pacer.run(other, () => ran.push("o1"));
    expect(ran).toEqual(["f1", "f2"]);
    await nextTurn();
    expect(ran).toEqual(["f1", "f2", "f3", "o1"]);
    await nextTurn();
    expect(ran).toEqual(["f1", "f2", "f3", "o1", "f4", "f5"]);
    // Nothing waits: a new turn's work runs at once again.
    await nextTurn();
    pacer.run(other, () => ran.push("o2"));
    expect(ran.at(-1)).toBe("o2");
  });

  it("keeps an owner's work in order, behind its work that waits", async () => {
    const pacer = new Pacer(1);
    const owner = {};
    const ran: number[] = [];
    pacer.run(owner, () => ran.push(1));
    pacer.run(owner, () => ran.push(2));
    await nextTurn();
    // The turn has room again, but 3 must not pass 2.
    pacer.run(owner, () => ran.push(3));
    await nextTurn();
    await nextTurn();
    expect(ran).toEqual([1, 2, 3]);
  });
});

describe("takeStreams", () => {
  it("serves every paced stream whole, taken or left to the request handler, bodies or none", async () => {
    // One piece a turn: every stream of a session but the first waits its turn.
    const server = http2.createServer((request, response) => {
      let received = 0;
      request.on("data", (chunk: Buffer) => {
        received += chunk.byteLength;
      });
      request.on("end", () => response.end(`handler ${received}`));
    });
    takeStreams(
      server,
      (stream, headers) => {
        if (headers[":path"] !== "/taken") return false;
        stream.respond({ ":status": 200 });
        stream.end("taken");
        return true;
      },
      new Pacer(1),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const call = (path: string, body: string) =>
      new Promise<string>((resolve, reject) => {
        const stream = session.request({ ":method": "POST", ":path": path });
        let answer = "";
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => {
          answer += chunk;
        });
        stream.on("end", () => resolve(answer));
        stream.on("error", reject);
        stream.end(body);
      });
    try {
      const answers = await Promise.all([
        call("/left", ""),
        call("/taken", ""),
        call("/left", ""),
        call("/left", "x".repeat(5)),
        call("/left", "x".repeat(200_000)),
        call("/left", ""),
      ]);
      expect(answers).toEqual([
        "handler 0",
        "taken",
        "handler 0",
        "handler 5",
        "handler 200000",
        "handler 0",
      ]);
    } finally {
      session.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
