import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { crc32, deflateSync } from "node:zlib";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ImageClass,
  ImageFormat,
  ImageMetadataTaskSchema,
} from "../../gen/noizylab/agent/v1/image_metadata_pb.js";
import { imageMetadataTask } from "./image-metadata.js";
import { testContext } from "./task-testing.js";

const read = async (data: Uint8Array, allow: string[] = []) => {
  const { context } = testContext({ allow });
  const input = create(ImageMetadataTaskSchema, { source: { case: "data", value: data } });
  return imageMetadataTask.run(
    (await imageMetadataTask.prepare?.(input, context)) ?? input,
    context,
  );
};

const solid = (width: number, height: number, background: string) =>
  sharp({ create: { width, height, channels: 3, background } });

// Images drawn as SVG and rasterised: a diagram, a screenshot and an illustration.
const svg = (width: number, height: number, body: string) =>
  sharp(
    Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`,
    ),
  );

const diagram = svg(
  800,
  500,
  `<rect width="800" height="500" fill="#ffffff"/>
   <rect x="60" y="200" width="160" height="90" fill="none" stroke="#1f4e79" stroke-width="4"/>
   <rect x="320" y="200" width="160" height="90" fill="none" stroke="#1f4e79" stroke-width="4"/>
   <rect x="580" y="200" width="160" height="90" fill="none" stroke="#1f4e79" stroke-width="4"/>
   <line x1="220" y1="245" x2="320" y2="245" stroke="#000" stroke-width="4"/>
   <line x1="480" y1="245" x2="580" y2="245" stroke="#000" stroke-width="4"/>`,
);

const screenshot = svg(
  1280,
  720,
  `<rect width="1280" height="720" fill="#f3f4f6"/>
   <rect width="1280" height="56" fill="#1e293b"/>
   <rect x="0" y="56" width="240" height="664" fill="#e2e8f0"/>
   ${Array.from({ length: 14 }, (_, i) => `<rect x="24" y="${90 + i * 40}" width="${120 + (i % 4) * 20}" height="12" fill="#64748b"/>`).join("")}
   ${Array.from({ length: 12 }, (_, i) => `<rect x="${280 + (i % 3) * 320}" y="${100 + Math.floor(i / 3) * 150}" width="290" height="120" fill="#ffffff" stroke="#cbd5e1"/>`).join("")}
   <rect x="1100" y="12" width="150" height="32" rx="6" fill="#2563eb"/>`,
);

const illustration = svg(
  600,
  600,
  `<rect width="600" height="300" fill="#87ceeb"/>
   <rect y="300" width="600" height="300" fill="#3cb371"/>
   <circle cx="480" cy="110" r="70" fill="#ffd700"/>
   <polygon points="80,420 220,240 360,420" fill="#a0522d"/>
   <rect x="120" y="420" width="200" height="140" fill="#f5deb3"/>
   <rect x="190" y="480" width="60" height="80" fill="#8b4513"/>
   <circle cx="470" cy="450" r="60" fill="#228b22"/>
   <rect x="460" y="500" width="20" height="80" fill="#654321"/>`,
);

// Gaussian noise: the many colors and the texture of a photograph.
const photo = sharp({
  create: {
    width: 640,
    height: 480,
    channels: 3,
    background: "#000000",
    noise: { type: "gaussian", mean: 120, sigma: 40 },
  },
});

/** pngHeader is a tiny PNG whose header claims a huge image: a pixel bomb. */
function pngHeader(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.alloc(1024))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

let server: Server;
let base = "";
let png: Buffer;
beforeAll(async () => {
  png = await solid(40, 30, "#336699").png().toBuffer();
  server = createServer((request, response) => {
    if (request.url === "/picture.png") {
      response.writeHead(200, { "content-type": "image/png" });
      response.end(png);
      return;
    }
    response.writeHead(404);
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

describe("image-metadata task", () => {
  it("reads JPEG, PNG, GIF, WebP, AVIF and TIFF images", async () => {
    const rgb = solid(120, 80, "#cc3300");
    const cases = [
      [
        await rgb.clone().jpeg().withMetadata({ orientation: 6 }).toBuffer(),
        ImageFormat.JPEG,
        "image/jpeg",
      ],
      [
        await sharp({ create: { width: 120, height: 80, channels: 4, background: "#00000080" } })
          .png()
          .toBuffer(),
        ImageFormat.PNG,
        "image/png",
      ],
      [await rgb.clone().gif().toBuffer(), ImageFormat.GIF, "image/gif"],
      [await rgb.clone().webp().toBuffer(), ImageFormat.WEBP, "image/webp"],
      [await rgb.clone().avif().toBuffer(), ImageFormat.AVIF, "image/avif"],
      [await rgb.clone().toColourspace("cmyk").tiff().toBuffer(), ImageFormat.TIFF, "image/tiff"],
    ] as const;
    const results = await Promise.all(cases.map(([data]) => read(data)));
    results.forEach((result, i) => {
      const [data, format, mediaType] = cases[i] as (typeof cases)[number];
      expect(result).toMatchObject({ format, mediaType, width: 120, height: 80, frames: 1 });
      expect(result.sizeBytes).toBe(BigInt(data.byteLength));
    });
    expect(results[0]?.orientation).toBe(6);
    expect(results[1]).toMatchObject({ hasAlpha: true, channels: 4 });
    expect(results[5]?.colorSpace).toBe("cmyk");
  });

  it("counts the frames of an animation", async () => {
    const frames = await Promise.all(
      ["#ff0000", "#00ff00", "#0000ff"].map((c) => solid(20, 10, c).png().toBuffer()),
    );
    const gif = await sharp(frames, { join: { animated: true } })
      .gif()
      .toBuffer();
    expect(await read(gif)).toMatchObject({
      format: ImageFormat.GIF,
      frames: 3,
      width: 20,
      height: 10,
    });
  });

  it("finds the main colors with their shares", async () => {
    const halves = await svg(
      100,
      100,
      '<rect width="100" height="75" fill="#ff0000"/><rect y="75" width="100" height="25" fill="#0000ff"/>',
    )
      .png()
      .toBuffer();
    const { palette } = await read(halves);
    expect(palette[0]).toMatchObject({ hex: "#ff0000" });
    expect(palette[0]?.share).toBeCloseTo(0.75, 1);
    expect(palette[1]).toMatchObject({ hex: "#0000ff" });
  });

  it.each([
    ["a photo", () => photo.clone().jpeg().toBuffer(), ImageClass.PHOTO],
    ["a diagram", () => diagram.clone().png().toBuffer(), ImageClass.DIAGRAM],
    ["a screenshot", () => screenshot.clone().png().toBuffer(), ImageClass.SCREENSHOT],
    ["an illustration", () => illustration.clone().png().toBuffer(), ImageClass.ILLUSTRATION],
  ])("classifies %s", async (_, make, kind) => {
    const result = await read(await make());
    expect(result.classification, result.classificationReasons.join("; ")).toBe(kind);
    expect(result.classificationReasons.length).toBeGreaterThan(0);
  });

  it("refuses a pixel bomb from its header, before decoding anything", async () => {
    const bomb = pngHeader(100_000, 100_000);
    expect(bomb.byteLength).toBeLessThan(200);
    const error = await read(bomb).catch(ConnectError.from);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toBe(
      "the image is 100000×100000 pixels, over the limit of 50000000 pixels",
    );
  });

  it("says when the bytes are not an image", async () => {
    const error = await read(new TextEncoder().encode("definitely not a picture")).catch(
      ConnectError.from,
    );
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toMatch(
      /^the data is not an image this server reads/,
    );
  });

  it("fetches an image by URL through the guarded sender, and refuses internal ones", async () => {
    const { context } = testContext({ allow: ["127.0.0.1"] });
    const byUrl = create(ImageMetadataTaskSchema, {
      source: { case: "url", value: `${base}/picture.png` },
    });
    const prepared = await imageMetadataTask.prepare?.(byUrl, context);
    const result = await imageMetadataTask.run(prepared ?? byUrl, context);
    expect(result).toMatchObject({ format: ImageFormat.PNG, width: 40, height: 30 });
    expect(result.palette[0]?.hex).toBe("#336699");
    const refused = await imageMetadataTask
      .prepare?.(byUrl, testContext().context)
      .catch(ConnectError.from);
    expect((refused as ConnectError).code).toBe(Code.PermissionDenied);
  });
});
