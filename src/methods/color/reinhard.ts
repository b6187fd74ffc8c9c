import { z } from 'zod';
import { labToRgb, lalphaBetaToRgb, rgbToLab, rgbToLalphaBeta } from '../../core/color.js';
import { CancelPacer } from '../../core/cancel-pacer.js';
import { throwIfAborted } from '../../core/errors.js';
import type { Image } from '../../core/image.js';
import { defineMethod } from '../../core/registry.js';
import { convertPaced } from './paced-convert.js';
import { colorSamples, paintSamples } from './palette.js';
import { regionPairs } from './regions.js';
import { smoothingParams, smoothResult } from './smoothing.js';
import { channelStats } from './statistics.js';

/**
 * Reinhard, Ashikhmin, Gooch & Shirley 2001, "Color Transfer between Images": shift and scale
 * each channel of a decorrelated colour space so its mean and standard deviation equal the
 * style's. Lab (CIE) by default; `space: lab-ruderman` uses the paper's own lαβ space.
 */
const params = z.object({
  space: z
    .enum(['lab', 'lalphabeta'])
    .default('lab')
    .describe('Colour space for the statistics: CIE Lab, or the lαβ space of the original paper'),
  scaleStd: z
    .boolean()
    .default(true)
    .describe("Match the style's spread (standard deviation) as well as its mean"),
  ...smoothingParams(0),
});

/** Share of a region pair's progress given to finding the distinct colours. */
const SAMPLING_SHARE = 0.1;

/** Flat channels would divide by zero; below this spread a channel is only shifted. */
const MIN_STD = 1e-6;

export const reinhard = defineMethod({
  id: 'color.reinhard',
  family: 'color',
  title: 'Reinhard colour transfer',
  summary: "Match the content's colour mean and spread to the style's, per channel in Lab",
  reference: 'Reinhard et al., Color Transfer between Images, IEEE CG&A 2001',
  inputs: { style: 'required' },
  params,
  // A global colour map: in a video its statistics are smoothed over time (no sudden grade changes).
  video: { temporal: 'flow', carry: 'grade' },
  advanced: ['scaleStd', 'smooth', 'smoothEps'],
  presets: { 'Full transfer': { strength: 1 }, 'Gentle tint': { strength: 0.5 }, 'Lightness only': { preserveColor: true } },
  regions: 'native',
  async run(ctx, { content, style, regions }, p) {
    const to = p.space === 'lab' ? rgbToLab : rgbToLalphaBeta;
    const from = p.space === 'lab' ? labToRgb : lalphaBetaToRgb;
    const out = content.emptyLike();
    // Each content region takes the statistics of its style region; unmatched ones the whole style's.
    const pairs = regionPairs(regions);
    const pacer = new CancelPacer(ctx.signal);
    for (let k = 0; k < pairs.length; k++) {
      throwIfAborted(ctx.signal);
      const pair = pairs[k]!;
      const progress = ctx.progress.sub(k / pairs.length, (k + 1) / pairs.length);
      const cs = colorSamples(content, pair.content);
      const ss = colorSamples(style!, pair.style);
      // Sampling is about a tenth of a pair's time; the rest is the three colour conversions.
      progress.step(SAMPLING_SHARE, 1);
      const work = 2 * cs.colors.pixels + ss.colors.pixels;
      let converted = 0;
      const done = (n: number) => progress.step(SAMPLING_SHARE + ((1 - SAMPLING_SHARE) * (converted += n)) / work, 1);
      const c = await convertPaced(cs.colors, to, pacer, done);
      matchStats(c, cs.weights, await convertPaced(ss.colors, to, pacer, done), ss.weights, p.scaleStd);
      paintSamples(out, pair.content, cs, await convertPaced(c, from, pacer, done));
    }
    return smoothResult(ctx, content, out, p);
  },
});

/** In place: the content samples' channel values get the style samples' mean and spread. */
function matchStats(content: Image, contentWeights: Float64Array | undefined, style: Image, styleWeights: Float64Array | undefined, scaleStd: boolean): void {
  const cs = channelStats(content, undefined, contentWeights);
  const ss = channelStats(style, undefined, styleWeights);
  for (let ch = 0; ch < content.channels; ch++) {
    const plane = content.plane(ch);
    const gain = scaleStd && cs.std[ch]! > MIN_STD ? ss.std[ch]! / cs.std[ch]! : 1;
    const offset = ss.mean[ch]! - cs.mean[ch]! * gain;
    for (let i = 0; i < plane.length; i++) plane[i] = plane[i]! * gain + offset;
  }
}
