import { AtelierError } from '../../core/errors.js';
import { Image } from '../../core/image.js';
import type { PreviousFrame, VideoBehaviour } from '../../core/registry.js';
import { blendStill, blendWarped } from './blend.js';
import { warpForCarry } from './carry-warp.js';
import { GradeSmoother, type GradeState } from './grade.js';
import { InputMotion, type MotionOptions } from './motion.js';

/**
 * Temporal consistency for one clip, frame after frame. The mode (`--temporal`) chooses how the
 * previous result is carried over; the method's declared `video.carry` chooses what else it does
 * (the table below), so no method is named here:
 *   none  — every frame on its own;
 *   blend — the previous result mixed in where the input stood still (no flow);
 *   flow  — the previous result warped onto this frame by the input's optical flow and mixed in
 *           where forward and backward flow agree (Ruder et al. 2016); per carry, it also starts
 *           the next optimisation ('init'), guides the next synthesis ('guide'), or the colour
 *           map's statistics are smoothed over time ('grade').
 */

export type TemporalMode = VideoBehaviour['temporal'];
export const TEMPORAL_MODES: readonly TemporalMode[] = ['none', 'blend', 'flow'];
export const DEFAULT_VIDEO_BEHAVIOUR: VideoBehaviour = { temporal: 'flow', carry: 'output' };

interface CarryStrategy {
  /** The method receives the warped previous result (`inputs.previous`). */
  hintsMethod: boolean;
  /** The colour map is smoothed over time. */
  smoothsGrade: boolean;
}

const CARRY_STRATEGIES: Record<VideoBehaviour['carry'], CarryStrategy> = {
  output: { hintsMethod: false, smoothsGrade: false },
  init: { hintsMethod: true, smoothsGrade: false },
  guide: { hintsMethod: true, smoothsGrade: false },
  grade: { hintsMethod: false, smoothsGrade: true },
};

/** Share of the carried-over result in trusted pixels (see blend.ts). */
export const DEFAULT_TEMPORAL_WEIGHT = 0.6;

export interface StabilizerOptions extends MotionOptions {
  mode: TemporalMode;
  behaviour?: VideoBehaviour;
  weight?: number;
}

/** What a resumed run needs to carry on exactly where it stopped. */
export interface StabilizerState {
  grade?: GradeState;
}

export interface FrameTimings {
  flowMs: number;
}

export class TemporalStabilizer {
  readonly mode: TemporalMode;
  private readonly strategy: CarryStrategy;
  private readonly weight: number;
  private readonly motion: InputMotion | undefined;
  private readonly grade: GradeSmoother | undefined;
  private lastOutput: Image | undefined;
  private lastInput: Image | undefined;
  private pendingHint: PreviousFrame | undefined;
  private pendingInput: Image | undefined;
  flowMs = 0;

  constructor(options: StabilizerOptions) {
    this.mode = options.mode;
    this.strategy = CARRY_STRATEGIES[(options.behaviour ?? DEFAULT_VIDEO_BEHAVIOUR).carry];
    this.weight = options.weight ?? options.behaviour?.weight ?? DEFAULT_TEMPORAL_WEIGHT;
    if (!(this.weight >= 0 && this.weight <= 1)) {
      throw new AtelierError('E_PARAM', 'Invalid temporal weight', { expected: 'a number in [0, 1]', received: String(options.weight) });
    }
    this.motion = this.mode === 'flow' ? new InputMotion(options) : undefined;
    this.grade = this.mode === 'flow' && this.strategy.smoothsGrade ? new GradeSmoother() : undefined;
  }

  snapshot(): StabilizerState {
    const grade = this.grade?.snapshot();
    return grade ? { grade } : {};
  }

  /**
   * Resume after `output` (the last finished result) and `input` (its input frame); the motion is
   * primed with that input so the next frame's flow has its predecessor.
   */
  restore(state: StabilizerState, input: Image, output: Image | undefined): void {
    this.grade?.restore(state.grade);
    this.motion?.next(input);
    this.lastInput = input;
    this.lastOutput = output;
  }

  /** Take the next input frame; what the method should be given for it. */
  begin(input: Image): { previous?: PreviousFrame } {
    this.pendingInput = input;
    this.pendingHint = undefined;
    if (this.mode !== 'flow') return {};
    const t0 = performance.now();
    const motion = this.motion!.next(input);
    if (motion && this.lastOutput) {
      this.pendingHint = { image: warpForCarry(this.lastOutput, motion.back), valid: motion.valid };
    }
    this.flowMs += performance.now() - t0;
    return this.strategy.hintsMethod && this.pendingHint ? { previous: this.pendingHint } : {};
  }

  /** The method's result for the frame given to `begin`; the frame to write. */
  end(stylised: Image): Image {
    const input = this.pendingInput;
    if (!input) throw new AtelierError('E_INTERNAL', 'TemporalStabilizer.end without begin');
    let out = stylised;
    if (this.mode === 'flow') {
      if (this.grade) out = this.grade.smooth(out, input);
      const hint = this.pendingHint;
      if (hint && hint.image.sameSize(out)) out = blendWarped(out, hint.image, hint.valid, this.weight);
    } else if (this.mode === 'blend' && this.lastOutput && this.lastInput && this.lastOutput.sameSize(out)) {
      out = blendStill(out, this.lastOutput, input, this.lastInput, this.weight);
    }
    this.lastOutput = out;
    this.lastInput = input;
    this.pendingInput = undefined;
    this.pendingHint = undefined;
    return out;
  }
}

