import { create } from "@bufbuild/protobuf";
import {
  type PaletteColor,
  PaletteColorSchema,
} from "../../../gen/noizylab/agent/v1/image_metadata_pb.js";

/** Pixels is a small RGB thumbnail, 3 bytes a pixel, row by row. */
export interface Pixels {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** ColorStats describe how a thumbnail's colors are spread. */
export interface ColorStats {
  /** Distinct colors at 5 bits a channel. */
  readonly distinctColors: number;
  /** The most common color's share. */
  readonly topShare: number;
  /** The share of pixels equal (at 5 bits a channel) to their right-hand neighbour. */
  readonly flatShare: number;
  /** The most common color's lightness, 0 to 1. */
  readonly topLightness: number;
}

const bucketOf = (data: Uint8Array, i: number) =>
  (((data[i] as number) >> 3) << 10) |
  (((data[i + 1] as number) >> 3) << 5) |
  ((data[i + 2] as number) >> 3);

interface Bucket {
  count: number;
  r: number;
  g: number;
  b: number;
}

function bucketsOf(pixels: Pixels): Map<number, Bucket> {
  const buckets = new Map<number, Bucket>();
  for (let i = 0; i < pixels.data.length; i += 3) {
    const key = bucketOf(pixels.data, i);
    const bucket = buckets.get(key) ?? { count: 0, r: 0, g: 0, b: 0 };
    bucket.count++;
    bucket.r += pixels.data[i] as number;
    bucket.g += pixels.data[i + 1] as number;
    bucket.b += pixels.data[i + 2] as number;
    buckets.set(key, bucket);
  }
  return buckets;
}

const hex = (value: number) => Math.round(value).toString(16).padStart(2, "0");

/**
 * paletteOf finds a thumbnail's main colors: pixels grouped at 5 bits a channel, each group's
 * mean color, largest groups first.
 */
export function paletteOf(pixels: Pixels, size: number): PaletteColor[] {
  const total = pixels.data.length / 3;
  return [...bucketsOf(pixels).values()]
    .sort((a, b) => b.count - a.count)
    .slice(0, size)
    .map(({ count, r, g, b }) =>
      create(PaletteColorSchema, {
        hex: `#${hex(r / count)}${hex(g / count)}${hex(b / count)}`,
        share: Math.round((count / total) * 1000) / 1000,
      }),
    );
}

/** colorStatsOf measures what the classification heuristic looks at. */
export function colorStatsOf(pixels: Pixels): ColorStats {
  const buckets = bucketsOf(pixels);
  const total = pixels.data.length / 3;
  let top: Bucket = { count: 0, r: 0, g: 0, b: 0 };
  for (const bucket of buckets.values()) if (bucket.count > top.count) top = bucket;
  let flat = 0;
  let pairs = 0;
  for (let y = 0; y < pixels.height; y++) {
    for (let x = 0; x + 1 < pixels.width; x++) {
      const i = (y * pixels.width + x) * 3;
      pairs++;
      if (bucketOf(pixels.data, i) === bucketOf(pixels.data, i + 3)) flat++;
    }
  }
  const lightness = top.count === 0 ? 0 : (top.r + top.g + top.b) / (3 * 255 * top.count);
  return {
    distinctColors: buckets.size,
    topShare: top.count / total,
    flatShare: pairs === 0 ? 1 : flat / pairs,
    topLightness: lightness,
  };
}
