import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import sharp from "sharp";
import {
  ImageFormat,
  ImageMetadataResultSchema,
  ImageMetadataTaskSchema,
} from "../../gen/noizylab/agent/v1/image_metadata_pb.js";
import { classify } from "./image/classify.js";
import { colorStatsOf, paletteOf } from "./image/palette.js";
import { checkHttpUrl, checkRange, invalidField } from "./task-errors.js";
import { defineTask } from "./task-handler.js";

/** Images over this many pixels (all frames) are refused before anything is decoded. */
export const maxImagePixels = 50_000_000;
/** The most bytes fetched from a URL. */
const maxFetchBytes = 20 * 1024 * 1024;
const defaultPaletteSize = 5;
const thumbnail = 64;

const formats: Record<string, { format: ImageFormat; mediaType: string }> = {
  jpeg: { format: ImageFormat.JPEG, mediaType: "image/jpeg" },
  png: { format: ImageFormat.PNG, mediaType: "image/png" },
  gif: { format: ImageFormat.GIF, mediaType: "image/gif" },
  webp: { format: ImageFormat.WEBP, mediaType: "image/webp" },
  avif: { format: ImageFormat.AVIF, mediaType: "image/avif" },
  heic: { format: ImageFormat.HEIC, mediaType: "image/heic" },
  tiff: { format: ImageFormat.TIFF, mediaType: "image/tiff" },
  svg: { format: ImageFormat.SVG, mediaType: "image/svg+xml" },
};

/** header reads what an image's header says, decoding no pixel; a bad image is InvalidArgument. */
async function header(data: Uint8Array) {
  try {
    return await sharp(data, { limitInputPixels: false }).metadata();
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ConnectError(
      `the data is not an image this server reads: ${reason}`,
      Code.InvalidArgument,
    );
  }
}

/**
 * imageMetadataTask reads an image: format, dimensions, color space, alpha, frames, EXIF
 * orientation, a palette and a classification. The header is read first, and an image over
 * maxImagePixels is refused before any decoding, so a small file cannot make the server
 * decode a gigapixel image. It runs on the worker pool; a URL is fetched first, on the event
 * loop, through the guarded sender.
 */
export const imageMetadataTask = defineTask({
  field: "imageMetadata",
  description:
    "Reads an image (bytes or URL): format (JPEG, PNG, GIF, WebP, AVIF, TIFF, HEIC, SVG), dimensions, color space, alpha, frames, EXIF orientation, a palette and a classification.",
  requestSchema: ImageMetadataTaskSchema,
  resultSchema: ImageMetadataResultSchema,
  cost: "heavy",
  validate(input, path) {
    const source = input.source;
    if (source.case === undefined) throw invalidField(path, "set data or url");
    if (source.case === "data" && source.value.byteLength === 0) {
      throw invalidField(`${path}.data`, "is empty");
    }
    if (source.case === "url") checkHttpUrl(`${path}.url`, source.value);
    if (input.paletteSize !== 0) checkRange(`${path}.palette_size`, input.paletteSize, 1, 16);
  },
  async prepare(input, context) {
    if (input.source.case !== "url") return input;
    if (context.request === undefined) {
      throw new ConnectError("this server sends no HTTP requests", Code.FailedPrecondition);
    }
    const response = await context.request({
      url: input.source.value,
      method: "GET",
      headers: { accept: "image/*" },
      timeoutMs: 30_000,
      maxBodyBytes: maxFetchBytes,
      keepBody: true,
      maxRedirects: 5,
      signal: context.signal,
    });
    if (response.status !== 200) {
      throw new ConnectError(
        `fetching ${input.source.value} answered ${response.status}`,
        Code.FailedPrecondition,
      );
    }
    return create(ImageMetadataTaskSchema, {
      source: { case: "data", value: response.body },
      paletteSize: input.paletteSize,
    });
  },
  async run(input) {
    if (input.source.case !== "data") {
      throw new ConnectError("the image was not fetched before the run", Code.Internal);
    }
    const data = input.source.value;
    const meta = await header(data);
    const frames = meta.pages ?? 1;
    const width = meta.width ?? 0;
    const height = meta.pageHeight ?? meta.height ?? 0;
    const pixels = width * height * frames;
    if (pixels > maxImagePixels) {
      throw new ConnectError(
        `the image is ${width}×${height} pixels${frames > 1 ? ` × ${frames} frames` : ""}, over the limit of ${maxImagePixels} pixels`,
        Code.InvalidArgument,
      );
    }
    const kind =
      meta.format === "heif" ? (meta.compression === "av1" ? "avif" : "heic") : (meta.format ?? "");
    const known = formats[kind];
    if (known === undefined) {
      throw new ConnectError(`${kind} images are not read here`, Code.InvalidArgument);
    }
    // The first frame, small, in sRGB: enough for the palette and the classification.
    const { data: thumb, info } = await sharp(data, { limitInputPixels: maxImagePixels })
      .resize(thumbnail, thumbnail, { fit: "inside" })
      .flatten({ background: "#ffffff" })
      .toColorspace("srgb")
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const thumbnailPixels = { data: thumb, width: info.width, height: info.height };
    const { kind: classification, reasons } = classify(
      colorStatsOf(thumbnailPixels),
      width,
      height,
    );
    return create(ImageMetadataResultSchema, {
      format: known.format,
      mediaType: known.mediaType,
      width,
      height,
      sizeBytes: BigInt(data.byteLength),
      colorSpace: meta.space ?? "",
      channels: meta.channels ?? 0,
      hasAlpha: meta.hasAlpha ?? false,
      frames,
      orientation: meta.orientation ?? 0,
      palette: paletteOf(thumbnailPixels, input.paletteSize || defaultPaletteSize),
      classification,
      classificationReasons: reasons,
    });
  },
});
