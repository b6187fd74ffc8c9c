import { AtelierError } from '../../core/errors.js';
import type { ParameterSet, ParameterShape } from '../../engine/optim/parameter-set.js';
import type { TensorMap, WeightTensor } from '../../engine/weights/tensor.js';
import { optimizerState, optimizerTensors } from '../checkpoint.js';

/**
 * The training checkpoint of a LoRA adapter, whatever network it adapts (fast networks in
 * `lora.ts` through `FastStyleFinetuner`, Stable Diffusion's UNet in `diffusion-lora.ts` through
 * `DiffusionLoraTrainer`): the adapter's tensors, Adam's moments beside them, and what the adapter
 * was made on, which a resume must match.
 */

/** What a LoRA trainer holds: its trained tensors, packed, under Adam. */
export interface LoraTrainerState {
  readonly parameters: ParameterSet<ParameterShape>;
  iteration: number;
  optimizerState(): { step: number; m: Float32Array; v: Float32Array };
  restoreOptimizer(state: { step: number; m: ArrayLike<number>; v: ArrayLike<number> }): void;
}

/** What the adapter is made on: a resume with other values would train another adapter. */
export interface LoraIdentity {
  base: string;
  rank: number;
  alpha: number;
  targets: readonly string[];
}

export function loraCheckpoint(trainer: LoraTrainerState, made: LoraIdentity): { tensors: WeightTensor[]; metadata: Record<string, string> } {
  const { step, m, v } = trainer.optimizerState();
  return {
    tensors: [...trainer.parameters.tensors(), ...optimizerTensors(trainer.parameters, { m, v })],
    metadata: { base: made.base, rank: String(made.rank), alpha: String(made.alpha), targets: JSON.stringify(made.targets), adamStep: String(step) },
  };
}

/** Load a `loraCheckpoint`; one made on another base, rank or target list is refused. */
export function restoreLoraCheckpoint(trainer: LoraTrainerState, made: LoraIdentity, tensors: TensorMap, metadata: Record<string, string>, iteration: number): void {
  if (metadata.base !== made.base || metadata.rank !== String(made.rank) || metadata.targets !== JSON.stringify(made.targets)) {
    throw new AtelierError('E_PARAM', 'The checkpoint was trained with another base, rank or target list', {
      expected: `${made.base}, rank ${made.rank}, ${made.targets.length} targets`,
      received: `${metadata.base}, rank ${metadata.rank}, ${(JSON.parse(metadata.targets ?? '[]') as string[]).length} targets`,
      hint: 'resume with the same --base, --rank and --targets, or start a new --out',
    });
  }
  for (const t of trainer.parameters.specs) {
    const saved = tensors.get(t.name);
    if (!saved) throw new AtelierError('E_WEIGHTS_INVALID', `The checkpoint lacks ${t.name}`);
    trainer.parameters.get(t.name).set(saved.data);
  }
  trainer.restoreOptimizer({ step: Number(metadata.adamStep), ...optimizerState(trainer.parameters, tensors, trainer.parameters.size, 'the checkpoint') });
  trainer.iteration = iteration;
}
