import type { Image } from '../../core/image.js';
import { limitSize } from '../../core/resample.js';
import { flowBetween, flowConsistencyMask, prepareFlowFrame, resizeFlow, resizeMask, type Flow, type FlowFrame, type FlowOptions } from '../flow.js';

/**
 * The motion between consecutive INPUT frames, for carrying a result from one frame to the next:
 * the backward flow (current → previous, so the previous result can be sampled onto the current
 * frame) and where it is trusted (forward–backward consistency, Sundaram et al. 2010, as Ruder et
 * al. 2016 use it). Flow is computed on frames scaled to at most `flowSize` on the long side (it
 * is smooth, and this keeps it cheaper than the stylisation) and scaled back up; each frame's
 * pyramid is prepared once and serves both directions.
 */

export interface FrameMotion {
  /** cur(x) ≈ prev(x + back(x)), at the frame's size. */
  back: Flow;
  /** 1 where the flow is trusted, 0 where occluded or leaving the frame. */
  valid: Float32Array;
}

export interface MotionOptions extends FlowOptions {
  /** Long side of the frames the flow is computed on (default 320). */
  flowSize?: number;
}

export const DEFAULT_FLOW_SIZE = 320;

export class InputMotion {
  private previous: FlowFrame | undefined;
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
    const current = prepareFlowFrame(small, this.flowOptions);
    const previous = this.previous;
    this.previous = current;
    if (!previous) return undefined;
    const back = flowBetween(current, previous, this.flowOptions);
    const forward = flowBetween(previous, current, this.flowOptions);
    const valid = flowConsistencyMask(back, forward);
    return {
      back: resizeFlow(back, frame.width, frame.height),
      valid: resizeMask(valid, small.width, small.height, frame.width, frame.height),
    };
  }
}

