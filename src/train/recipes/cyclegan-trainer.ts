import { AtelierError } from '../../core/errors.js';
import type { Rng } from '../../core/rng.js';
import { grad } from '../../engine/autodiff/grad.js';
import { Graph, type Tensor } from '../../engine/graph/graph.js';
import { cycleGanGenerator, cycleGanGeneratorSpecs, patchGan, patchGanSpecs, type CycleGanGeneratorConfig, type PatchGanConfig } from '../../engine/nets/cyclegan.js';
import { nchwcBlockSize } from '../../engine/runtime.js';
import { Adam } from '../../engine/optim/adam.js';
import { ParameterSet } from '../../engine/optim/parameter-set.js';
import { compile, type Runner, type TensorValue } from '../../engine/runtime.js';
import type { TensorMap, WeightTensor } from '../../engine/weights/tensor.js';
import { optimizerState, optimizerTensors } from '../checkpoint.js';
import { assertFiniteStep, assertSameArchitecture, linearDecayRate } from '../gan-training.js';
import { ImagePool } from '../image-pool.js';

/**
 * One CycleGAN training iteration as the published code's optimize_parameters does it (batch 1):
 * G_A maps A→B and G_B maps B→A; D_A tells real B from G_A's fakes, D_B real A from G_B's.
 * 1. Generators (discriminators held fixed): least-squares adversarial losses
 *    mean((D_A(G_A(a)) − 1)²) + mean((D_B(G_B(b)) − 1)²), cycle losses λ_A·|G_B(G_A(a)) − a|₁ +
 *    λ_B·|G_A(G_B(b)) − b|₁ (λ = 10), identity losses λ_idt·(λ_B·|G_A(b) − b|₁ + λ_A·|G_B(a) − a|₁)
 *    (λ_idt = 0.5; L1 as means), one Adam step on both generators.
 * 2. Discriminators, on the fakes of step 1 passed through the 50-image history pools:
 *    ½·(mean((D(real) − 1)²) + mean(D(fake)²)) each, one Adam step on both.
 * Adam β = (0.5, 0.999), lr 2e-4, constant for the first part of the run, then linearly to zero.
 */

export interface CycleGanLossWeights {
  cycleA: number;
  cycleB: number;
  identity: number;
}

export const PUBLISHED_CYCLEGAN = {
  lossWeights: { cycleA: 10, cycleB: 10, identity: 0.5 } satisfies CycleGanLossWeights,
  learningRate: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  poolSize: 50,
  /** Fraction of the run over which the learning rate decays linearly to zero (100 of 200 epochs). */
  decayFraction: 0.5,
} as const;

export interface CycleGanTrainerOptions {
  size: number;
  generator: CycleGanGeneratorConfig;
  discriminator: PatchGanConfig;
  lossWeights: CycleGanLossWeights;
  learningRate: number;
  /** Total iterations and the fraction at the end over which the learning rate decays to zero. */
  iterations: number;
  decayFraction: number;
  poolSize: number;
  threads: number;
  seed: number;
}

export type CycleGanLosses = Record<'G_A' | 'G_B' | 'cycle_A' | 'cycle_B' | 'idt_A' | 'idt_B' | 'D_A' | 'D_B', number>;

/** The four images of a forward pass: fakes and reconstructions. */
export interface CycleGanForward {
  fakeB: Float32Array;
  recA: Float32Array;
  fakeA: Float32Array;
  recB: Float32Array;
}

const CHECKPOINT_FORMAT = 'atelier-cyclegan-training-1';

const mse = (g: Graph, x: Tensor, target: number) => g.meanAll(g.square(target === 0 ? x : g.sub(x, g.scalar(target))));
const l1 = (g: Graph, a: Tensor, b: Tensor) => g.meanAll(g.abs(g.sub(a, b)));

/** The architecture facts a checkpoint must share with the run that resumes it. */
function architecture(o: CycleGanTrainerOptions): Record<string, string> {
  return {
    size: String(o.size),
    width: String(o.generator.width),
    blocks: String(o.generator.blocks),
    skip: String(o.generator.skip ?? false),
    discriminatorWidth: String(o.discriminator.width),
    discriminatorLayers: String(o.discriminator.layers),
  };
}

export class CycleGanTrainer {
  static readonly checkpointFormat = CHECKPOINT_FORMAT;
  readonly generators: ParameterSet;
  readonly discriminators: ParameterSet;
  private readonly adamG: Adam;
  private readonly adamD: Adam;
  /** Each step's gradients, reused (the optimiser consumes them before the next step). */
  private readonly gradientG: Float32Array;
  private readonly gradientD: Float32Array;
  readonly poolA: ImagePool;
  readonly poolB: ImagePool;
  iteration = 0;

  private constructor(
    readonly options: CycleGanTrainerOptions,
    /**
     * The generators' and discriminators' step graphs, compiled on first use: a resume that the
     * checkpoint refuses (another width, another architecture) is refused at once, not after the
     * compile (seconds at small widths, minutes at the published ones under load).
     */
    private readonly stepRunners: () => Promise<[Runner, Runner]>,
    /** Compiled on first use: a run without validation or sample grids (`--eval 0`) never needs it. */
    private readonly forwardRunner: () => Promise<Runner>,
    generators: ParameterSet,
    discriminators: ParameterSet,
  ) {
    this.generators = generators;
    this.discriminators = discriminators;
    const betas = { beta1: PUBLISHED_CYCLEGAN.beta1, beta2: PUBLISHED_CYCLEGAN.beta2 };
    this.adamG = new Adam(generators.size, { learningRate: options.learningRate, ...betas });
    this.adamD = new Adam(discriminators.size, { learningRate: options.learningRate, ...betas });
    this.gradientG = new Float32Array(generators.size);
    this.gradientD = new Float32Array(discriminators.size);
    this.poolA = new ImagePool(options.poolSize, 3 * options.size * options.size);
    this.poolB = new ImagePool(options.poolSize, 3 * options.size * options.size);
  }

  static generatorSpecs(o: Pick<CycleGanTrainerOptions, 'generator'>) {
    return [...cycleGanGeneratorSpecs(o.generator, 'G_A.'), ...cycleGanGeneratorSpecs(o.generator, 'G_B.')];
  }

  static async create(o: CycleGanTrainerOptions): Promise<CycleGanTrainer> {
    if (o.size % 4 !== 0 || o.size < 32) throw new AtelierError('E_PARAM', 'The CycleGAN crop size must be a multiple of 4, at least 32', { received: String(o.size) });
    const generators = ParameterSet.initialised(CycleGanTrainer.generatorSpecs(o), o.seed);
    const discriminators = ParameterSet.initialised([...patchGanSpecs(o.discriminator, 'D_A.'), ...patchGanSpecs(o.discriminator, 'D_B.')], o.seed + 1);
    const { generatorGraph: gg, discriminatorGraph: gd, forwardGraph: gf } = cycleGanGraphs(o, generators, discriminators);
    // Uncached: a training session lives for hours, and the session cache would evict it under the
    // sessions of methods run meanwhile (an evaluation, a server job).
    // ORT's arena without its memory plans: a CycleGAN iteration at 256² (width 64, 9 blocks)
    // peaked at 5.0 GB with the plans and 3.0 GB without, at the same speed (PyTorch: 3.4 GB).
    // Convs with run-time kernels in ORT's blocked layout where this CPU has it (graph/lower.ts).
    const opts = { threads: o.threads, paramsAsInputs: true, cache: false, memory: 'arena' as const, nchwcBlock: await nchwcBlockSize() };
    let steps: Promise<[Runner, Runner]> | undefined;
    let forward: Promise<Runner> | undefined;
    return new CycleGanTrainer(o, () => (steps ??= Promise.all([compile(gg, opts), compile(gd, opts)])), () => (forward ??= compile(gf, opts)), generators, discriminators);
  }

  /** The learning rate of the current iteration: constant, then linear to zero over the last `decayFraction` of the run. */
  get learningRate(): number {
    const { iterations, decayFraction, learningRate } = this.options;
    return linearDecayRate(learningRate, this.iteration, iterations, decayFraction);
  }

  private image(data: Float32Array): TensorValue {
    return { data, shape: [1, 3, this.options.size, this.options.size] };
  }

  /** The generators' losses and gradient, and their fakes, at the current weights. */
  async generatorStep(realA: Float32Array, realB: Float32Array): Promise<{ losses: Record<string, number>; gradient: Float32Array; fakeA: Float32Array; fakeB: Float32Array }> {
    const [generatorRunner] = await this.stepRunners();
    const out = await generatorRunner.run({ ...this.generators.feeds(), ...this.discriminators.feeds(), realA: this.image(realA), realB: this.image(realB) });
    const losses = Object.fromEntries(Object.keys(out).filter((k) => k.startsWith('loss.')).map((k) => [k.slice(5), (out[k]!.data as Float32Array)[0]!]));
    return { losses, gradient: this.generators.gatherGradients(out, this.gradientG), fakeA: out.fakeA!.data as Float32Array, fakeB: out.fakeB!.data as Float32Array };
  }

  /** The discriminators' losses and gradient on real images and the fakes they are shown. */
  async discriminatorStep(realA: Float32Array, realB: Float32Array, fakeA: Float32Array, fakeB: Float32Array): Promise<{ losses: Record<string, number>; gradient: Float32Array }> {
    const [, discriminatorRunner] = await this.stepRunners();
    const out = await discriminatorRunner.run({
      ...this.discriminators.feeds(),
      realA: this.image(realA),
      realB: this.image(realB),
      fakeA: this.image(fakeA),
      fakeB: this.image(fakeB),
    });
    return {
      losses: { D_A: (out['loss.D_A']!.data as Float32Array)[0]!, D_B: (out['loss.D_B']!.data as Float32Array)[0]! },
      gradient: this.discriminators.gatherGradients(out, this.gradientD),
    };
  }

  /** One iteration on a real A and a real B crop (planar RGB in [−1, 1]); `rng` draws the pool's choices. */
  async step(realA: Float32Array, realB: Float32Array, rng: Rng): Promise<{ losses: CycleGanLosses; learningRate: number }> {
    const learningRate = this.learningRate;
    const gen = await this.generatorStep(realA, realB);
    assertFiniteStep('CycleGAN', this.iteration, gen.losses, gen.gradient, 'generators');
    const shownB = this.poolB.query(gen.fakeB, rng);
    const shownA = this.poolA.query(gen.fakeA, rng);
    // The discriminators step on the weights the generators were judged by (the published order
    // updates G first, but D's loss does not depend on G's new weights: the fakes are computed).
    const dis = await this.discriminatorStep(realA, realB, shownA, shownB);
    assertFiniteStep('CycleGAN', this.iteration, dis.losses, dis.gradient, 'discriminators');
    this.adamG.step(this.generators.data, gen.gradient, learningRate);
    this.adamD.step(this.discriminators.data, dis.gradient, learningRate);
    this.iteration++;
    const losses = { idt_A: 0, idt_B: 0, ...gen.losses, ...dis.losses } as CycleGanLosses;
    return { losses, learningRate };
  }

  /** Translations and reconstructions of one A and one B crop at the current weights. */
  async forward(realA: Float32Array, realB: Float32Array): Promise<CycleGanForward> {
    const out = await (await this.forwardRunner()).run({ ...this.generators.feeds(), realA: this.image(realA), realB: this.image(realB) });
    const get = (k: string) => out[k]!.data as Float32Array;
    return { fakeB: get('fakeB'), recA: get('recA'), fakeA: get('fakeA'), recB: get('recB') };
  }

  /** Weights of all four networks, both Adam states, both pools; architecture and Adam steps as metadata. */
  checkpoint(): { tensors: WeightTensor[]; metadata: Record<string, string> } {
    const g = this.adamG.state();
    const d = this.adamD.state();
    const tensors = [
      ...this.generators.tensors(),
      ...this.discriminators.tensors(),
      ...optimizerTensors({ specs: this.generators.specs, offsets: this.generators.offsets }, g),
      ...optimizerTensors({ specs: this.discriminators.specs, offsets: this.discriminators.offsets }, d),
      ...this.poolA.toTensors('pool.A'),
      ...this.poolB.toTensors('pool.B'),
    ];
    return { tensors, metadata: { ...architecture(this.options), poolSize: String(this.options.poolSize), adamStepG: String(g.step), adamStepD: String(d.step) } };
  }

  /** Load a `checkpoint()`; one written for another architecture, width or crop size is refused. */
  restore(tensors: TensorMap, metadata: Record<string, string>, iteration: number, file: string): void {
    // (checkpoints from before the skip option have none: theirs is off)
    assertSameArchitecture(architecture(this.options), { skip: 'false', ...metadata }, file);
    this.generators.load(tensors, file);
    this.discriminators.load(tensors, file);
    this.adamG.restore({ step: Number(metadata.adamStepG), ...optimizerState({ specs: this.generators.specs, offsets: this.generators.offsets }, tensors, this.generators.size, file) });
    this.adamD.restore({ step: Number(metadata.adamStepD), ...optimizerState({ specs: this.discriminators.specs, offsets: this.discriminators.offsets }, tensors, this.discriminators.size, file) });
    this.poolA.restore(tensors, 'pool.A', file);
    this.poolB.restore(tensors, 'pool.B', file);
    this.iteration = iteration;
  }
}

/**
 * The three graphs of a CycleGAN run on these parameter sets: the generators' step (losses, fakes,
 * gradient), the discriminators' step (losses, gradient) and the forward pass (translations and
 * reconstructions). Exported for the profile tool (`bench/profile/cyclegan-step.mjs`).
 */
export function cycleGanGraphs(
  o: Pick<CycleGanTrainerOptions, 'size' | 'generator' | 'discriminator' | 'lossWeights'>,
  generators: ParameterSet,
  discriminators: ParameterSet,
): { generatorGraph: Graph; discriminatorGraph: Graph; forwardGraph: Graph } {
  const S = o.size;
  const image = (g: Graph, name: string) => g.input(name, [1, 3, S, S]);
  const nets = (g: Graph) => {
    const pg = { A: generators.graphParams(g, 'G_A.'), B: generators.graphParams(g, 'G_B.') };
    const pd = { A: discriminators.graphParams(g, 'D_A.'), B: discriminators.graphParams(g, 'D_B.') };
    return {
      GA: (x: Tensor) => cycleGanGenerator(g, x, pg.A, o.generator),
      GB: (x: Tensor) => cycleGanGenerator(g, x, pg.B, o.generator),
      DA: (x: Tensor) => patchGan(g, x, pd.A, o.discriminator),
      DB: (x: Tensor) => patchGan(g, x, pd.B, o.discriminator),
    };
  };

  // 1. Generators' objective and its gradient.
  const gg = new Graph();
  {
    const n = nets(gg);
    const realA = image(gg, 'realA');
    const realB = image(gg, 'realB');
    const fakeB = n.GA(realA);
    const fakeA = n.GB(realB);
    const w = o.lossWeights;
    const losses: Record<string, Tensor> = {
      G_A: mse(gg, n.DA(fakeB), 1),
      G_B: mse(gg, n.DB(fakeA), 1),
      cycle_A: l1(gg, n.GB(fakeB), realA),
      cycle_B: l1(gg, n.GA(fakeA), realB),
    };
    let total = gg.add(gg.add(losses.G_A!, losses.G_B!), gg.add(gg.scale(losses.cycle_A!, w.cycleA), gg.scale(losses.cycle_B!, w.cycleB)));
    if (w.identity > 0) {
      losses.idt_A = l1(gg, n.GA(realB), realB);
      losses.idt_B = l1(gg, n.GB(realA), realA);
      total = gg.add(total, gg.add(gg.scale(losses.idt_A, w.identity * w.cycleB), gg.scale(losses.idt_B, w.identity * w.cycleA)));
    }
    for (const [k, t] of Object.entries(losses)) gg.output(`loss.${k}`, t);
    gg.output('fakeA', fakeA);
    gg.output('fakeB', fakeB);
    const wrt = gg.params.filter((t) => t.name.startsWith('G_'));
    grad(gg, total, wrt).forEach((t, i) => gg.output(`grad:${wrt[i]!.name}`, t));
  }

  // 2. Discriminators' objective: real and (pooled) fake images batched through each D.
  const gd = new Graph();
  {
    const n = nets(gd);
    const half = (scores: Tensor, i: number) => gd.slice(scores, [0], [i], [i + 1]);
    const dLoss = (scores: Tensor) => gd.scale(gd.add(mse(gd, half(scores, 0), 1), mse(gd, half(scores, 1), 0)), 0.5);
    const DA = dLoss(n.DA(gd.concat([image(gd, 'realB'), image(gd, 'fakeB')], 0)));
    const DB = dLoss(n.DB(gd.concat([image(gd, 'realA'), image(gd, 'fakeA')], 0)));
    gd.output('loss.D_A', DA);
    gd.output('loss.D_B', DB);
    const wrt = gd.params;
    grad(gd, gd.add(DA, DB), wrt).forEach((t, i) => gd.output(`grad:${wrt[i]!.name}`, t));
  }

  // Forward only: the translations and reconstructions of fixed samples.
  const gf = new Graph();
  {
    const n = nets(gf);
    const fakeB = n.GA(image(gf, 'realA'));
    const fakeA = n.GB(image(gf, 'realB'));
    gf.output('fakeB', fakeB);
    gf.output('recA', n.GB(fakeB));
    gf.output('fakeA', fakeA);
    gf.output('recB', n.GA(fakeA));
  }
  return { generatorGraph: gg, discriminatorGraph: gd, forwardGraph: gf };
}
