/**
 * Filter sizes are given as a percentage of the image's long side, so a result looks alike at
 * 512 px and at 4K. This turns such a size into pixels for a given image.
 */
export function pixelsFor(percent: number, width: number, height: number, minimum = 0.5): number {
  return Math.max(minimum, (percent / 100) * Math.max(width, height));
}
