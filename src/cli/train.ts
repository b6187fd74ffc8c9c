import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import sharp from 'sharp';
import { AtelierError } from '../core/errors.js';
import { writeFileAtomic } from '../core/io.js';
import { Rng } from '../core/rng.js';
import { mattingLaplacian } from '../engine/losses/matting-laplacian.js';
import type { CapVstMode } from '../engine/nets/capvst/architecture.js';
import { CapVstTrainer, PUBLISHED_LOSS_WEIGHTS, type LossBreakdown, type StepReport } from '../train/recipes/capvst-trainer.js';
import { loadCapVstWeights } from '../engine/nets/capvst/weights.js';
import { randomVgg19Weights } from '../engine/nets/vgg19.js';
import { requireModel } from '../engine/store.js';
import { readWeights } from '../engine/weights/read.js';
import { writeSafetensors } from '../engine/weights/safetensors.js';
import type { TensorMap } from '../engine/weights/tensor.js';
import type { CliCommand } from './command.js';
import { lossCurveSvg } from '../train/loss-curve.js';
import { listTrainingImages, TrainingImages } from '../train/training-images.js';

/**
 * `atelier train NETWORK …`: train or fine-tune a network on the user's images. Networks are
 * subcommands; `capvst` trains CAP-VSTNet with its published losses (train/recipes/capvst-trainer.ts).
 */

interface CapVstTrainFlags {
  content: string;
  style?: string;
  mode: string;
  size: string;
  iterations: string;
  out: string;
  resume?: boolean;
  init: string;
  vgg: string;
  lr: string;
  styleWeight?: string;
  recWeight?: string;
  lapWeight?: string;
  saveEvery: string;
  logEvery: string;
  eval: string;
  seed: string;
  threads?: string;
  quiet?: boolean;
  json?: boolean;
}

function number(value: string, flag: string, check: (n: number) => boolean, expected: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || !check(n)) throw new AtelierError('E_USAGE', `Invalid value for ${flag}`, { expected, received: JSON.stringify(value) });
  return n;
}

async function loadVgg(source: string, seed: number): Promise<{ weights: TensorMap; label: string }> {
  if (source === 'random') return { weights: randomVgg19Weights('normalised', seed, 'relu4_1'), label: `random (seed ${seed})` };
  const file = source === 'installed' ? requireModel('vgg_normalised') : source;
  return { weights: await readWeights(file), label: source === 'installed' ? 'vgg_normalised' : file };
}

interface LossRecord {
  iteration: number;
  style: number;
  reconstruction: number;
  laplacian: number;
  total: number;
  gradientNorm: number;
  learningRate: number;
  seconds: number;
}

async function trainCapVst(flags: CapVstTrainFlags): Promise<void> {
  if (flags.mode !== 'photoreal' && flags.mode !== 'artistic') {
    throw new AtelierError('E_USAGE', 'Invalid value for --mode', { expected: 'photoreal or artistic', received: JSON.stringify(flags.mode) });
  }
  const mode = flags.mode as CapVstMode;
  const size = number(flags.size, '--size', (n) => Number.isInteger(n) && n >= 16 && n % 4 === 0, 'a multiple of 4, at least 16');
  const iterations = number(flags.iterations, '--iterations', (n) => Number.isInteger(n) && n > 0, 'a positive integer');
  const saveEvery = number(flags.saveEvery, '--save-every', (n) => Number.isInteger(n) && n > 0, 'a positive integer');
  const logEvery = number(flags.logEvery, '--log-every', (n) => Number.isInteger(n) && n > 0, 'a positive integer');
  const seed = number(flags.seed, '--seed', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
  const evalCount = number(flags.eval, '--eval', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
  const learningRate = number(flags.lr, '--lr', (n) => n > 0, 'a positive number');
  const threads = flags.threads === undefined ? undefined : number(flags.threads, '--threads', (n) => Number.isInteger(n) && n > 0, 'a positive integer');
  const published = PUBLISHED_LOSS_WEIGHTS[mode];
  const weight = (v: string | undefined, flag: string, dflt: number) => (v === undefined ? dflt : number(v, flag, (n) => n >= 0, 'a non-negative number'));
  const lossWeights = {
    style: weight(flags.styleWeight, '--style-weight', published.style),
    reconstruction: weight(flags.recWeight, '--rec-weight', published.reconstruction),
    laplacian: weight(flags.lapWeight, '--lap-weight', published.laplacian),
  };
  const say = (line: string) => {
    if (!flags.quiet && !flags.json) process.stderr.write(line + '\n');
  };

  const group = mode === 'photoreal' ? 'photoreal' : 'artistic';
  const contentFiles = listTrainingImages(flags.content, 'content', group);
  const styleFiles = listTrainingImages(flags.style ?? flags.content, 'style', group);
  mkdirSync(flags.out, { recursive: true });
  const lastFile = path.join(flags.out, 'last.safetensors');
  const lossFile = path.join(flags.out, 'losses.json');

  say(`capvst: ${mode}, ${contentFiles.length} content and ${styleFiles.length} style images, ${size}² crops, ${iterations} iterations`);
  const [contents, styles] = await Promise.all([TrainingImages.load(contentFiles, 2 * size), TrainingImages.load(styleFiles, 2 * size)]);
  const vgg = await loadVgg(flags.vgg, seed);
  const initial = await loadCapVstWeights(flags.init, mode, 'image', seed);
  say(`capvst: network from ${initial.source === 'random' ? `random weights (seed ${seed})` : initial.source}, VGG-19 ${vgg.label}; building the training graphs…`);
  const t0 = performance.now();
  const trainer = await CapVstTrainer.create(initial, vgg.weights, { size, lossWeights, learningRate, threads: threads ?? 2 });
  say(`capvst: graphs ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  let records: LossRecord[] = [];
  if (flags.resume) {
    if (!existsSync(lastFile)) throw new AtelierError('E_FILE_NOT_FOUND', `Nothing to resume: ${lastFile} does not exist`, { hint: 'start without --resume' });
    await trainer.resume(lastFile);
    if (existsSync(lossFile)) records = (JSON.parse(readFileSync(lossFile, 'utf8')) as { records: LossRecord[] }).records.filter((r) => r.iteration < trainer.iteration);
    say(`capvst: resumed at iteration ${trainer.iteration}`);
  }
  // Fixed validation crops: the same before and after, so their losses show the trend without
  // the noise of random training crops.
  const validationRng = new Rng((seed ^ 0x5eed5) >>> 0);
  const validation = Array.from({ length: evalCount }, () => {
    const content = contents.sample(validationRng, size);
    return { content, style: styles.sample(validationRng, size), laplacian: mattingLaplacian(content, size, size) };
  });
  const evaluate = async (): Promise<LossBreakdown | undefined> => {
    if (validation.length === 0) return undefined;
    const sums = { style: 0, reconstruction: 0, laplacian: 0, total: 0 };
    for (const v of validation) {
      const l = await trainer.evaluate(v);
      for (const k of Object.keys(sums) as (keyof LossBreakdown)[]) sums[k] += l[k] / validation.length;
    }
    return sums;
  };
  const formatLosses = (l: LossBreakdown) => `style ${l.style.toFixed(4)}  rec ${l.reconstruction.toFixed(4)}  lap ${l.laplacian.toFixed(5)}  total ${l.total.toFixed(3)}`;
  const before = await evaluate();
  if (before) say(`capvst: validation (${evalCount} fixed crops) at iteration ${trainer.iteration}: ${formatLosses(before)}`);
  let after: LossBreakdown | undefined;
  // Each iteration draws from its own generator, so a resumed run sees the same crops.
  const save = async () => {
    await trainer.save(lastFile);
    const validationLosses = before && { iteration: trainer.iteration, before, ...(after && { after }) };
    await writeFileAtomic(lossFile, JSON.stringify({ mode, size, lossWeights, validation: validationLosses, records }, null, 1), { force: true });
  };
  while (trainer.iteration < iterations) {
    const rng = new Rng((seed * 1_000_003 + trainer.iteration) >>> 0);
    const content = contents.sample(rng, size);
    const style = styles.sample(rng, size);
    const started = performance.now();
    const r: StepReport = await trainer.step({ content, style, laplacian: mattingLaplacian(content, size, size) });
    const seconds = (performance.now() - started) / 1000;
    records.push({ iteration: r.iteration, ...r.losses, gradientNorm: r.gradientNorm, learningRate: r.learningRate, seconds });
    if ((r.iteration + 1) % logEvery === 0 || r.iteration === 0) {
      const l = r.losses;
      say(
        `iter ${String(r.iteration + 1).padStart(String(iterations).length)}/${iterations}  style ${l.style.toFixed(4)}  ` +
          `rec ${l.reconstruction.toFixed(4)} (×${lossWeights.reconstruction})  lap ${l.laplacian.toFixed(5)} (×${lossWeights.laplacian})  ` +
          `total ${l.total.toFixed(3)}  |grad| ${r.gradientNorm.toFixed(2)}  lr ${r.learningRate.toExponential(2)}  ${seconds.toFixed(2)} s/it`,
      );
    }
    if (trainer.iteration % saveEvery === 0) await save();
  }
  after = await evaluate();
  if (after) say(`capvst: validation at iteration ${trainer.iteration}: ${formatLosses(after)}`);
  await save();
  const final = path.join(flags.out, `capvst-${mode}.safetensors`);
  await writeSafetensors(final, [...trainer.weights().tensors].map(([name, data]) => ({ name, shape: shapeOf(trainer, name), data })), {
    metadata: { mode, iterations: String(trainer.iteration), source: 'atelier train capvst' },
  });
  const svg = lossCurveSvg(
    [
      { name: 'style', values: records.map((r) => r.style) },
      { name: 'reconstruction', values: records.map((r) => r.reconstruction) },
      { name: 'Matting Laplacian', values: records.map((r) => r.laplacian) },
      { name: 'total (weighted)', values: records.map((r) => r.total) },
    ],
    `CAP-VSTNet ${mode} training, ${size}² crops`,
  );
  await writeFileAtomic(path.join(flags.out, 'loss-curve.svg'), svg, { force: true });
  await sharp(Buffer.from(svg)).png().toFile(path.join(flags.out, 'loss-curve.png'));
  const summary = {
    mode,
    iterations: trainer.iteration,
    weights: final,
    checkpoint: lastFile,
    losses: lossFile,
    plot: path.join(flags.out, 'loss-curve.png'),
    last: records.at(-1),
    ...(before && after && { validation: { before, after } }),
  };
  if (flags.json) process.stdout.write(JSON.stringify({ ok: true, ...summary }, null, 2) + '\n');
  else say(`capvst: done; weights ${final} (use with --method neural.capvst --weights ${final}), loss curve ${summary.plot}`);
}

function shapeOf(trainer: CapVstTrainer, name: string): number[] {
  return trainer.specs.find((s) => s.name === name)!.shape;
}

export const train: CliCommand = {
  register(program: Command) {
    const cmd = program.command('train').description('Train or fine-tune a network on your images');
    cmd
      .command('capvst')
      .description('Train CAP-VSTNet (reversible network for cWCT) with its published losses: style, cycle reconstruction, Matting Laplacian')
      .requiredOption('--content <dir|pairs.json>', 'content images: a folder, or a pairs.json with photoreal/artistic lists')
      .option('--style <dir|pairs.json>', 'style images (default: the same source as --content)')
      .option('--mode <mode>', 'photoreal or artistic (sets the published loss weights)', 'photoreal')
      .option('--size <px>', 'side of the square training crops (multiple of 4); images are scaled to twice this on their short side', '256')
      .option('--iterations <n>', 'total iterations (a resumed run continues up to this number)', '1000')
      .option('--out <dir>', 'folder for checkpoints, losses.json and the loss-curve plot', 'capvst-training')
      .option('--resume', 'continue from <out>/last.safetensors (weights, Adam state, iteration)')
      .option('--init <weights>', "starting weights: 'random' (seeded), 'installed' (the published checkpoint) or a file", 'random')
      .option('--vgg <weights>', "normalised VGG-19 for the style loss: 'installed' (vgg_normalised), 'random' or a file", 'installed')
      .option('--lr <rate>', 'Adam learning rate (decayed as lr / (1 + 5e-5 · iteration))', '1e-4')
      .option('--style-weight <w>', 'style loss weight (published: 1)')
      .option('--rec-weight <w>', 'cycle reconstruction weight (published: photoreal 10, artistic 1)')
      .option('--lap-weight <w>', 'Matting Laplacian weight (published: photoreal 1500, artistic 1)')
      .option('--save-every <n>', 'save the checkpoint every n iterations', '50')
      .option('--log-every <n>', 'print the loss breakdown every n iterations', '10')
      .option('--eval <n>', 'fixed validation crops whose losses are reported before and after training (0: none)', '4')
      .option('--seed <n>', 'seed for initial weights and crops', '1')
      .option('--threads <n>', 'ONNX Runtime threads (default 2)')
      .option('-q, --quiet', 'print nothing but errors')
      .option('--json', 'print a JSON summary on stdout')
      .action(async (flags: CapVstTrainFlags) => trainCapVst(flags));
  },
};
