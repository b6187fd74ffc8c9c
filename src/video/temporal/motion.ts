import { luma } from '../../core/color.js';
import type { Image } from '../../core/image.js';
import { limitSize } from '../../core/resample.js';
import { gaussianBlurPlane } from '../../imaging/gaussian.js';
import { flowBetween, flowConsistencyMask, prepareFlowFrame, resizeFlow, resizeMask, warpByFlow, type Flow, type FlowFrame, type FlowOptions } from '../flow.js';

/**
 * The motion between consecutive INPUT frames, for carrying a result from one frame to the next:
 * the backward flow (current → previous, so the previous result can be sampled onto the current
 * frame) and how far it is trusted. Trust is the product of two tests:
 *  - forward–backward consistency (Sundaram et al. 2010, as Ruder et al. 2016 use it), which finds
 *    occlusions and pixels leaving the frame;
 *  - the flow's own residual: the previous INPUT frame warped by the flow should look like the
 *    current one. Where it does not (a small fast object the coarse flow missed — both directions
 *    then agree on "no motion" and pass the first test), carrying the previous result would leave
 *    a ghost of the object where it was, so trust falls off smoothly with the luma residual. Both
 *    frames are blurred first (σ = RESIDUAL_BLUR px) so that the sub-pixel misalignment of fine
 *    texture, which blending handles well, does not count: only whole objects out of place do.
 * Flow is computed on frames scaled to at most `flowSize` on the long side (it is smooth, and this
 * keeps it cheaper than the stylisation) and scaled back up; each frame's pyramid is prepared once
 * and serves both directions.
 */

export interface FrameMotion {
  /** cur(x) ≈ prev(x + back(x)), at the frame's size. */
  back: Flow;
  /** Trust in the carried result per pixel, in [0, 1]: 0 where occluded, leaving the frame or mis-tracked. */
  valid: Float32Array;
}

export interface MotionOptions extends FlowOptions {
  /** Long side of the frames the flow is computed on (default 320). */
  flowSize?: number;
}

export const DEFAULT_FLOW_SIZE = 320;
/**
 * Luma residual (0–1) of the warped, blurred previous input at which trust has fallen to e^-1 ≈
 * 0.37. Compression noise and flow interpolation leave a few hundredths on tracked pixels; a
 * mis-tracked object (the football in sam2_football_juggle) differs from its background by more
 * than 0.15. At 0.08 the camera pan of the dev clip lost trust on its textures and the colour
 * methods' warping error was cut to 0.53 of per-frame instead of 0.27.
 */
export const RESIDUAL_SIGMA = 0.15;
/** Blur (px, at the flow's size) of both frames before the residual is taken. */
export const RESIDUAL_BLUR = 2;

interface PreviousInput {
  flow: FlowFrame;
  small: Image;
}

export class InputMotion {
  private previous: PreviousInput | undefined;
  private readonly flowOptions: FlowOptions;
  private readonly flowSize: number;

  constructor(options: MotionOptions = {}) {
    const { flowSize, ...flowOptions } = options;
    this.flowSize = flowSize ?? DEFAULT_FLOW_SIZE;
    this.flowOptions = { iterations: 3, ...flowOptions };
  }

  /** Take the next input frame; the motion from the one before (none for the first). */
  next(frame: Image): FrameMotion | undefined {
    const small = limitSize(frame, this.flowSize);
    const current = { flow: prepareFlowFrame(small, this.flowOptions), small };
    const previous = this.previous;
    this.previous = current;
    if (!previous) return undefined;
    const back = flowBetween(current.flow, previous.flow, this.flowOptions);
    const forward = flowBetween(previous.flow, current.flow, this.flowOptions);
    const valid = flowConsistencyMask(back, forward);
    const residual = trackingResidual(small, warpByFlow(previous.small, back));
    for (let i = 0; i < valid.length; i++) {
      const r = residual[i]! / RESIDUAL_SIGMA;
      valid[i]! *= Math.exp(-r * r);
    }
    return {
      back: resizeFlow(back, frame.width, frame.height),
      valid: resizeMask(valid, small.width, small.height, frame.width, frame.height),
    };
  }
}

/** |luma(current) − luma(warped previous)| per pixel, both blurred. */
function trackingResidual(current: Image, warpedPrevious: Image): Float32Array {
  const { width, height } = current;
  const a = gaussianBlurPlane(luma(current).data, width, height, RESIDUAL_BLUR);
  const b = gaussianBlurPlane(luma(warpedPrevious).data, width, height, RESIDUAL_BLUR);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Math.abs(a[i]! - b[i]!);
  return out;
}
