/**
 * What every LoRA training plots, whatever network it adapts (fast networks in `lora.ts`, the
 * imported ones in `lora-imported.ts`): the weighted perceptual terms and their sum.
 */
export const LORA_CURVES = [
  { key: 'style', label: 'style (weighted)' },
  { key: 'content', label: 'content (weighted)' },
  { key: 'total', label: 'total' },
];

/** The loss plot's title: rank, base and how many style images. */
export function loraCurveTitle(rank: number, base: string, styleImages: number): string {
  return `LoRA r${rank} on ${base}, ${styleImages} style image${styleImages === 1 ? '' : 's'}`;
}
