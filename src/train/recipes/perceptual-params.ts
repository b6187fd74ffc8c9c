import { z } from 'zod';
import { DEFAULT_CONTENT_TAPS, DEFAULT_STYLE_TAPS, PERCEPTUAL_TAPS } from '../../engine/losses/perceptual.js';

const tap = z.enum(PERCEPTUAL_TAPS);

/**
 * The loss settings every recipe trained on the VGG-19 perceptual losses shares (`train fast`,
 * `train multistyle-style`): one definition, so their defaults and ranges cannot drift apart.
 */
export const perceptualLossParams = {
  styleSize: z.number().int().min(16).max(2048).default(256).describe('Short side the style images are scaled to for their Gram matrices (sets the stroke scale)'),
  lr: z.number().positive().default(1e-3).describe('Adam learning rate'),
  contentWeight: z.number().min(0).default(1).describe('Weight of the content loss (mean squared VGG feature difference)'),
  styleWeight: z.number().min(0).default(1e4).describe('Weight of the style loss (mean squared Gram difference, summed over the style layers)'),
  tvWeight: z.number().min(0).default(10).describe('Weight of the total-variation loss on the [0, 1] image'),
  contentLayers: z.array(tap).min(1).default(DEFAULT_CONTENT_TAPS).describe('VGG layers of the content loss'),
  styleLayers: z.array(tap).min(1).default(DEFAULT_STYLE_TAPS).describe('VGG layers of the style loss'),
  vgg: z.string().default('installed').describe("Loss network: 'installed' (vgg19-relu3_1) or 'random' (seeded; tests only, no real style). On the command line also a weight file"),
};
