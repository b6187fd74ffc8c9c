import { AtelierError } from '../core/errors.js';
import type { Image } from '../core/image.js';
import { flowConsistencyMask, opticalFlow, warpByFlow, type Flow, type FlowOptions } from '../video/flow.js';
import { defineMetric, type MetricResult } from './metric.js';

/**
 * Temporal warping error (Lai et al. 2018, "Learning blind video temporal consistency", ECCV):
 * for each pair of consecutive frames, the previous stylised frame is warped onto the current one
 * with the optical flow of the *input* frames (Farnebäck, `video/flow.ts`), and the mean squared
 * difference is taken over pixels where forward and backward flows agree (occlusions excluded).
 * The value is the mean over pairs; 0 means perfectly stable. `parts.inputError` is the same error
 * of the input frames themselves — the floor that flow errors alone produce.
 */

function maskedMse(a: Image, b: Image, mask: Float32Array): number {
  let s = 0;
  let n = 0;
  for (let c = 0; c < a.channels; c++) {
    const pa = a.plane(c);
    const pb = b.plane(c);
    for (let i = 0; i < mask.length; i++) {
      if (mask[i]! === 0) continue;
      const d = pa[i]! - pb[i]!;
      s += d * d;
      n++;
    }
  }
  return n > 0 ? s / n : 0;
}

interface PairFlow {
  back: Flow;
  mask: Float32Array;
}

/** Flows depend only on the input frames: kept per frame list, so several methods share them. */
const flowCache = new WeakMap<Image[], PairFlow[]>();

function inputFlows(input: Image[], flowOptions: FlowOptions): PairFlow[] {
  const cached = Object.keys(flowOptions).length === 0 ? flowCache.get(input) : undefined;
  if (cached) return cached;
  const flows: PairFlow[] = [];
  for (let t = 1; t < input.length; t++) {
    const back = opticalFlow(input[t]!, input[t - 1]!, flowOptions); // cur(x) ≈ prev(x + back(x))
    const fwd = opticalFlow(input[t - 1]!, input[t]!, flowOptions);
    flows.push({ back, mask: flowConsistencyMask(back, fwd) });
  }
  if (Object.keys(flowOptions).length === 0) flowCache.set(input, flows);
  return flows;
}

export function warpingError(input: Image[], output: Image[], flowOptions: FlowOptions = {}): MetricResult {
  if (input.length !== output.length || input.length < 2) {
    throw new AtelierError('E_PARAM', 'The temporal error needs matching input and output frame sequences', {
      expected: 'at least 2 frames of each, as many outputs as inputs',
      received: `${input.length} input and ${output.length} output frames`,
    });
  }
  for (let t = 0; t < input.length; t++) {
    if (!input[t]!.sameSize(input[0]!) || !output[t]!.sameSize(input[0]!)) {
      throw new AtelierError('E_PARAM', 'Every frame must have one size', { received: `frame ${t}: ${output[t]!.width}×${output[t]!.height}` });
    }
  }
  const flows = inputFlows(input, flowOptions);
  let sum = 0;
  let inputSum = 0;
  let maxPair = 0;
  let trusted = 0;
  let total = 0;
  for (let t = 1; t < input.length; t++) {
    const { back, mask } = flows[t - 1]!;
    const e = maskedMse(output[t]!, warpByFlow(output[t - 1]!, back), mask);
    inputSum += maskedMse(input[t]!, warpByFlow(input[t - 1]!, back), mask);
    sum += e;
    maxPair = Math.max(maxPair, e);
    for (let i = 0; i < mask.length; i++) trusted += mask[i]!;
    total += mask.length;
  }
  const pairs = input.length - 1;
  return {
    value: sum / pairs,
    parts: { maxPairError: maxPair, inputError: inputSum / pairs, occludedShare: 1 - trusted / total, pairs },
  };
}

export const temporal = defineMetric({
  id: 'temporal',
  title: 'Temporal warping error',
  summary: 'Flicker between consecutive stylised frames: MSE after warping by the input video’s optical flow, occlusions excluded',
  reference: 'Lai et al. 2018 (ECCV) warping error; Farnebäck 2003 flow; occlusion check of Sundaram et al. 2010',
  higherIsBetter: false,
  aspect: 'temporal',
  needs: ['frames'],
  compute: ({ frames }) => warpingError(frames!.input, frames!.output),
});
