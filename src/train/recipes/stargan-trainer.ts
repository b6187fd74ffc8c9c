import { AtelierError } from '../../core/errors.js';
import { grad } from '../../engine/autodiff/grad.js';
import { Graph, type Tensor } from '../../engine/graph/graph.js';
import { discriminatorTangent, starGanDiscriminator, starGanDiscriminatorSpecs, starGanGenerator, starGanGeneratorSpecs, type StarGanDiscriminatorConfig, type StarGanGeneratorConfig } from '../../engine/nets/stargan.js';
import { Adam } from '../../engine/optim/adam.js';
import { ParameterSet } from '../../engine/optim/parameter-set.js';
import { compile, type Runner, type TensorValue } from '../../engine/runtime.js';
import type { TensorMap, WeightTensor } from '../../engine/weights/tensor.js';
import { optimizerState, optimizerTensors } from '../checkpoint.js';
import { assertFiniteStep, assertSameArchitecture, linearDecayRate } from '../gan-training.js';

/**
 * One StarGAN training iteration as the authors' solver does it:
 * 1. Discriminator, every iteration: WGAN-GP with an auxiliary classifier,
 *    −mean(D_src(x)) + mean(D_src(G(x, c'))) + λ_cls·CE(D_cls(x), c) + λ_gp·mean((‖∇ D_src(x̂)‖₂ − 1)²)
 *    with x̂ = αx + (1 − α)G(x, c'), α ~ U(0, 1) per image (λ_cls 1, λ_gp 10), one Adam step.
 * 2. Generator, every `nCritic` (5) iterations: −mean(D_src(G(x, c'))) + λ_cls·CE(D_cls(G(x, c')), c')
 *    + λ_rec·|x − G(G(x, c'), c)|₁ (λ_rec 10), one Adam step.
 * x is a batch of real images with their domains c; the targets c' are drawn uniformly among the
 * domains (the paper's "randomly generate the target domain label"; the code permutes the batch's
 * own labels, which at the small batches a CPU trains with would often leave c' = c).
 * Adam β = (0.5, 0.999), lr 1e-4 for both, constant, then linearly to zero over the last part.
 *
 * The penalty's parameter gradient: the engine has no double backprop, so the step takes it in
 * two runs. A probe run gives the fakes, x̂, g = ∇ₓ̂ Σ D_src(x̂) and the leaky ReLUs' slopes at x̂.
 * Then ∂/∂θ (‖g‖ − 1)² = 2(‖g‖ − 1)/‖g‖ · ∂(v·g)/∂θ at v = g, and v·g is the discriminator's
 * tangent along v (engine/nets/stargan.ts `discriminatorTangent`), which the discriminator step's
 * graph differentiates with ordinary autodiff. Exact for this piecewise-linear discriminator;
 * the test compares it with PyTorch's double backprop.
 */

export const PUBLISHED_STARGAN = {
  learningRate: 1e-4,
  beta1: 0.5,
  beta2: 0.999,
  clsWeight: 1,
  recWeight: 10,
  gpWeight: 10,
  nCritic: 5,
  batch: 16,
  decayFraction: 0.5,
} as const;

export interface StarGanTrainerOptions {
  size: number;
  batch: number;
  domains: string[];
  generator: Omit<StarGanGeneratorConfig, 'domains'>;
  discriminator: Pick<StarGanDiscriminatorConfig, 'width' | 'layers'>;
  clsWeight: number;
  recWeight: number;
  gpWeight: number;
  nCritic: number;
  learningRate: number;
  iterations: number;
  decayFraction: number;
  threads: number;
  seed: number;
}

/** One batch: real images (N×3×S×S in [−1, 1]), their domains, target domains and the mixing weights α. */
export interface StarGanBatch {
  real: Float32Array;
  domains: number[];
  targets: number[];
  alpha: number[];
}

const CHECKPOINT_FORMAT = 'atelier-stargan-training-1';

function architecture(o: StarGanTrainerOptions): Record<string, string> {
  return {
    size: String(o.size),
    width: String(o.generator.width),
    blocks: String(o.generator.blocks),
    skip: String(o.generator.skip ?? false),
    labelNorm: String(o.generator.labelNorm ?? false),
    discriminatorWidth: String(o.discriminator.width),
    discriminatorLayers: String(o.discriminator.layers),
    domains: o.domains.join(','),
  };
}

/** −mean over the batch of Σ_c onehot·log softmax(logits). */
function crossEntropy(g: Graph, logits: Tensor, onehot: Tensor): Tensor {
  const m = g.reduceMean(logits, [1], true);
  const shifted = g.sub(logits, m);
  const logSum = g.log(g.reduceSum(g.exp(shifted), [1], true));
  return g.neg(g.scale(g.sumAll(g.mul(onehot, g.sub(shifted, logSum))), 1 / (logits.shape[0] as number)));
}

/** The fraction of rows of N×d logits whose largest entry is at that row's domain. */
function accuracy(logits: Float32Array, domains: number[]): number {
  const d = logits.length / domains.length;
  let right = 0;
  domains.forEach((c, n) => {
    let best = 0;
    for (let k = 1; k < d; k++) if (logits[n * d + k]! > logits[n * d + best]!) best = k;
    if (best === c) right++;
  });
  return right / domains.length;
}

export class StarGanTrainer {
  static readonly checkpointFormat = CHECKPOINT_FORMAT;
  private readonly adamG: Adam;
  private readonly adamD: Adam;
  iteration = 0;

  private constructor(
    readonly options: StarGanTrainerOptions,
    readonly generator: ParameterSet,
    readonly discriminator: ParameterSet,
    private readonly probeRunner: Runner,
    private readonly discriminatorRunner: Runner,
    private readonly generatorRunner: Runner,
    private readonly forwardRunner: Runner,
  ) {
    const betas = { beta1: PUBLISHED_STARGAN.beta1, beta2: PUBLISHED_STARGAN.beta2 };
    this.adamG = new Adam(generator.size, { learningRate: options.learningRate, ...betas });
    this.adamD = new Adam(discriminator.size, { learningRate: options.learningRate, ...betas });
  }

  get generatorConfig(): StarGanGeneratorConfig {
    return { ...this.options.generator, domains: this.options.domains.length };
  }

  static async create(o: StarGanTrainerOptions): Promise<StarGanTrainer> {
    const S = o.size;
    const N = o.batch;
    const d = o.domains.length;
    const head = S / 2 ** o.discriminator.layers;
    if (!Number.isInteger(head) || head < 1) {
      throw new AtelierError('E_PARAM', `The StarGAN crop size ${S} is not divisible by 2^${o.discriminator.layers}`, {
        expected: `a size divisible by ${2 ** o.discriminator.layers} (the discriminator halves it ${o.discriminator.layers} times)`,
        received: String(S),
        hint: 'change --size or --discriminator-layers',
      });
    }
    const gc: StarGanGeneratorConfig = { ...o.generator, domains: d };
    const dc: StarGanDiscriminatorConfig = { ...o.discriminator, size: S, domains: d };
    const generator = ParameterSet.initialised(starGanGeneratorSpecs(gc), o.seed);
    const discriminator = ParameterSet.initialised(starGanDiscriminatorSpecs(dc), o.seed + 1);
    const images = (g: Graph, name: string) => g.input(name, [N, 3, S, S]);
    const labels = (g: Graph, name: string) => g.input(name, [N, d]);
    const G = (g: Graph) => {
      const p = generator.graphParams(g, 'G.');
      return (x: Tensor, label: Tensor) => starGanGenerator(g, x, label, p, gc);
    };
    const D = (g: Graph) => {
      const p = discriminator.graphParams(g, 'D.');
      return { run: (x: Tensor) => starGanDiscriminator(g, x, p, dc), tangent: (v: Tensor, slopes: Tensor[]) => discriminatorTangent(g, v, slopes, p, dc) };
    };

    // Probe: fakes, x̂, the input gradient at x̂ and the slopes of D's leaky ReLUs there.
    const gp = new Graph();
    {
      const real = images(gp, 'real');
      const alpha = gp.input('alpha', [N, 1, 1, 1]);
      const fake = G(gp)(real, labels(gp, 'labelTrg'));
      const mixed = gp.add(gp.mul(alpha, real), gp.mul(gp.sub(gp.scalar(1), alpha), fake));
      const out = D(gp).run(mixed);
      const [inputGrad] = grad(gp, gp.sumAll(out.source), [mixed]);
      gp.output('fake', fake);
      gp.output('mixed', mixed);
      gp.output('inputGrad', inputGrad!);
      out.preActivations.forEach((a, i) => {
        const positive = gp.onnx('Greater', [a, gp.scalar(0)], [{ shape: [...a.shape], dtype: 'bool' }])[0]!;
        gp.output(`slope${i}`, gp.onnx('Where', [positive, gp.scalar(1), gp.scalar(0.01)], [{ shape: [...a.shape] }])[0]!);
      });
    }

    // Discriminator step: adversarial (Wasserstein) terms, classification of reals, penalty through the tangent.
    const gd = new Graph();
    {
      const d_ = D(gd);
      const real = d_.run(images(gd, 'real'));
      const fake = d_.run(images(gd, 'fake'));
      const slopes = real.preActivations.map((a, i) => gd.input(`slope${i}`, [...a.shape]));
      const tangent = d_.tangent(images(gd, 'direction'), slopes);
      const realLoss = gd.neg(gd.meanAll(real.source));
      const fakeLoss = gd.meanAll(fake.source);
      const cls = crossEntropy(gd, real.classes, labels(gd, 'labelOrg'));
      const penalty = gd.sumAll(gd.mul(tangent, gd.input('penaltyCoefficient', [N, 1, 1, 1])));
      gd.output('loss.D_real', realLoss);
      gd.output('loss.D_fake', fakeLoss);
      gd.output('loss.D_cls', cls);
      gd.output('tangent', tangent);
      gd.output('classes.real', real.classes);
      const total = gd.add(gd.add(realLoss, fakeLoss), gd.add(gd.scale(cls, o.clsWeight), penalty));
      const wrt = gd.params;
      grad(gd, total, wrt).forEach((t, i) => gd.output(`grad:${wrt[i]!.name}`, t));
    }

    // Generator step.
    const gg = new Graph();
    {
      const g_ = G(gg);
      const real = images(gg, 'real');
      const org = labels(gg, 'labelOrg');
      const trg = labels(gg, 'labelTrg');
      const fake = g_(real, trg);
      const judged = D(gg).run(fake);
      const adv = gg.neg(gg.meanAll(judged.source));
      const cls = crossEntropy(gg, judged.classes, trg);
      const rec = gg.meanAll(gg.abs(gg.sub(real, g_(fake, org))));
      gg.output('loss.G_fake', adv);
      gg.output('loss.G_cls', cls);
      gg.output('loss.G_rec', rec);
      gg.output('classes.fake', judged.classes);
      const wrt = gg.params.filter((t) => t.name.startsWith('G.'));
      grad(gg, gg.add(adv, gg.add(gg.scale(cls, o.clsWeight), gg.scale(rec, o.recWeight))), wrt).forEach((t, i) => gg.output(`grad:${wrt[i]!.name}`, t));
    }

    // Forward only: one image to every domain (sample grids, validation).
    const gf = new Graph();
    gf.output('out', G(gf)(gf.input('x', [1, 3, S, S]), gf.input('label', [1, d])));

    // Uncached: a training session lives for hours, and the session cache would evict it under the
    // sessions of methods run meanwhile (an evaluation, a server job).
    // ORT's arena without its memory plans: a CycleGAN iteration at 256² (width 64, 9 blocks)
    // peaked at 5.0 GB with the plans and 3.0 GB without, at the same speed (PyTorch: 3.4 GB).
    const opts = { threads: o.threads, paramsAsInputs: true, cache: false, memory: 'arena' as const };
    const [pr, dr, gr, fr] = await Promise.all([compile(gp, opts), compile(gd, opts), compile(gg, opts), compile(gf, opts)]);
    return new StarGanTrainer(o, generator, discriminator, pr, dr, gr, fr);
  }

  get learningRate(): number {
    const { iterations, decayFraction, learningRate } = this.options;
    return linearDecayRate(learningRate, this.iteration, iterations, decayFraction);
  }

  private onehot(domains: number[]): TensorValue {
    const d = this.options.domains.length;
    const data = new Float32Array(domains.length * d);
    domains.forEach((c, i) => (data[i * d + c] = 1));
    return { data, shape: [domains.length, d] };
  }

  private images(data: Float32Array, n = this.options.batch): TensorValue {
    return { data, shape: [n, 3, this.options.size, this.options.size] };
  }

  /** The discriminator's losses and gradient at the current weights (and the fakes it judged). */
  async discriminatorStep(b: StarGanBatch): Promise<{ losses: Record<string, number>; accuracy: number; gradient: Float32Array; fake: Float32Array; tangent: Float32Array; gradientNorms: number[] }> {
    const N = this.options.batch;
    const params = { ...this.generator.feeds(), ...this.discriminator.feeds() };
    const probe = await this.probeRunner.run({ ...params, real: this.images(b.real), labelTrg: this.onehot(b.targets), alpha: { data: Float32Array.from(b.alpha), shape: [N, 1, 1, 1] } });
    const inputGrad = probe.inputGrad!.data as Float32Array;
    const per = inputGrad.length / N;
    const norms = Array.from({ length: N }, (_, n) => Math.sqrt(inputGrad.subarray(n * per, (n + 1) * per).reduce((s, v) => s + v * v, 0)));
    const penalty = norms.reduce((s, v) => s + (v - 1) ** 2, 0) / N;
    // d/dθ of λ·mean((‖g‖ − 1)²) = Σ_n λ·2(‖g_n‖ − 1)/(N‖g_n‖) · d(v_n·g_n)/dθ.
    const coefficient = Float32Array.from(norms, (v) => (v > 0 ? (this.options.gpWeight * 2 * (v - 1)) / (N * v) : 0));
    const slopes = Object.fromEntries(Object.keys(probe).filter((k) => k.startsWith('slope')).map((k) => [k, probe[k]!]));
    const out = await this.discriminatorRunner.run({
      ...this.discriminator.feeds(),
      real: this.images(b.real),
      fake: probe.fake!,
      direction: { data: inputGrad, shape: [N, 3, this.options.size, this.options.size] },
      penaltyCoefficient: { data: coefficient, shape: [N, 1, 1, 1] },
      labelOrg: this.onehot(b.domains),
      ...slopes,
    });
    const value = (k: string) => (out[k]!.data as Float32Array)[0]!;
    return {
      losses: { D_real: value('loss.D_real'), D_fake: value('loss.D_fake'), D_cls: value('loss.D_cls'), D_gp: penalty },
      // How often D's classifier names the real images' domains (before this step's update).
      accuracy: accuracy(out['classes.real']!.data as Float32Array, b.domains),
      gradient: this.discriminator.gatherGradients(out),
      fake: probe.fake!.data as Float32Array,
      tangent: out.tangent!.data as Float32Array,
      gradientNorms: norms,
    };
  }

  /** The generator's losses and gradient at the current weights. */
  async generatorStep(b: StarGanBatch): Promise<{ losses: Record<string, number>; accuracy: number; gradient: Float32Array }> {
    const out = await this.generatorRunner.run({
      ...this.generator.feeds(),
      ...this.discriminator.feeds(),
      real: this.images(b.real),
      labelOrg: this.onehot(b.domains),
      labelTrg: this.onehot(b.targets),
    });
    const value = (k: string) => (out[k]!.data as Float32Array)[0]!;
    return {
      losses: { G_fake: value('loss.G_fake'), G_cls: value('loss.G_cls'), G_rec: value('loss.G_rec') },
      // How often D's classifier names the fakes' target domains: whether the conditioning is learnt.
      accuracy: accuracy(out['classes.fake']!.data as Float32Array, b.targets),
      gradient: this.generator.gatherGradients(out),
    };
  }

  /** One iteration: the discriminator always, the generator every nCritic-th (the published order). */
  async step(b: StarGanBatch): Promise<{ losses: Record<string, number>; learningRate: number }> {
    const learningRate = this.learningRate;
    const dis = await this.discriminatorStep(b);
    const losses: Record<string, number> = { ...dis.losses, D_accuracy: dis.accuracy };
    assertFiniteStep('StarGAN', this.iteration, dis.losses, dis.gradient, 'discriminator');
    this.adamD.step(this.discriminator.data, dis.gradient, learningRate);
    losses.D_total = dis.losses.D_real! + dis.losses.D_fake! + this.options.clsWeight * dis.losses.D_cls! + this.options.gpWeight * dis.losses.D_gp!;
    if ((this.iteration + 1) % this.options.nCritic === 0) {
      const gen = await this.generatorStep(b);
      assertFiniteStep('StarGAN', this.iteration, gen.losses, gen.gradient, 'generator');
      this.adamG.step(this.generator.data, gen.gradient, learningRate);
      Object.assign(losses, gen.losses, { G_accuracy: gen.accuracy });
    }
    this.iteration++;
    return { losses, learningRate };
  }

  /** One S×S image (planar, [−1, 1]) translated to domain `domain`. */
  async translate(x: Float32Array, domain: number): Promise<Float32Array> {
    const out = await this.forwardRunner.run({ ...this.generator.feeds(), x: this.images(x, 1), label: this.onehot([domain]) });
    return out.out!.data as Float32Array;
  }

  checkpoint(): { tensors: WeightTensor[]; metadata: Record<string, string> } {
    const g = this.adamG.state();
    const d = this.adamD.state();
    return {
      tensors: [
        ...this.generator.tensors(),
        ...this.discriminator.tensors(),
        ...optimizerTensors({ specs: this.generator.specs, offsets: this.generator.offsets }, g),
        ...optimizerTensors({ specs: this.discriminator.specs, offsets: this.discriminator.offsets }, d),
      ],
      metadata: { ...architecture(this.options), adamStepG: String(g.step), adamStepD: String(d.step) },
    };
  }

  restore(tensors: TensorMap, metadata: Record<string, string>, iteration: number, file: string): void {
    // (checkpoints from before the skip and labelNorm options have none: theirs are off)
    assertSameArchitecture(architecture(this.options), { skip: 'false', labelNorm: 'false', ...metadata }, file);
    this.generator.load(tensors, file);
    this.discriminator.load(tensors, file);
    this.adamG.restore({ step: Number(metadata.adamStepG), ...optimizerState({ specs: this.generator.specs, offsets: this.generator.offsets }, tensors, this.generator.size, file) });
    this.adamD.restore({ step: Number(metadata.adamStepD), ...optimizerState({ specs: this.discriminator.specs, offsets: this.discriminator.offsets }, tensors, this.discriminator.size, file) });
    this.iteration = iteration;
  }
}
