import { ImageClass } from "../../../gen/noizylab/agent/v1/image_metadata_pb.js";
import type { ColorStats } from "./palette.js";

/** Screens' proportions, width to height. */
const screenRatios = [16 / 9, 16 / 10, 4 / 3, 3 / 2, 9 / 16, 9 / 19.5, 19.5 / 9, 21 / 9];

const percent = (share: number) => `${Math.round(share * 100)}%`;

/**
 * classify tells what kind of picture an image looks like, from a 64-pixel thumbnail, in
 * this order:
 * - a diagram: at most 64 colors and one of them (the background) covers over half of it;
 * - a screenshot: at least 640 pixels wide in a screen's proportions (within 2%), mostly
 *   flat (over 60% of neighbouring pixels alike) with at most 512 colors;
 * - an illustration: mostly flat (over 50%) with at most 512 colors;
 * - a photo: anything else (many colors, few flat areas).
 */
export function classify(
  stats: ColorStats,
  width: number,
  height: number,
): { kind: ImageClass; reasons: string[] } {
  const colors = `${stats.distinctColors} colors`;
  const flat = `${percent(stats.flatShare)} of neighbouring pixels alike`;
  if (stats.distinctColors <= 64 && stats.topShare > 0.5) {
    return {
      kind: ImageClass.DIAGRAM,
      reasons: [
        colors,
        `one color covers ${percent(stats.topShare)}: a background with a few shapes`,
      ],
    };
  }
  const ratio = width / height;
  const screenLike = width >= 640 && screenRatios.some((r) => Math.abs(ratio / r - 1) < 0.02);
  if (screenLike && stats.flatShare > 0.6 && stats.distinctColors <= 512) {
    return {
      kind: ImageClass.SCREENSHOT,
      reasons: [`${width}×${height}, a screen's proportions`, flat, colors],
    };
  }
  if (stats.flatShare > 0.5 && stats.distinctColors <= 512) {
    return { kind: ImageClass.ILLUSTRATION, reasons: [flat, colors] };
  }
  return { kind: ImageClass.PHOTO, reasons: [colors, flat] };
}
