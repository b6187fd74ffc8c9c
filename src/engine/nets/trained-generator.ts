import { AtelierError } from '../../core/errors.js';
import { clampImage, type Image } from '../../core/image.js';
import { Graph, type Tensor } from '../graph/graph.js';
import { compile, type Runner } from '../runtime.js';
import { readSafetensors, readSafetensorsHeader } from '../weights/safetensors.js';
import type { TensorMap } from '../weights/tensor.js';
import { ParameterSet, type ParameterSpec } from '../optim/parameter-set.js';
import { resolveTrainedModel } from '../store/trained.js';
import { cycleGanGenerator, cycleGanGeneratorSpecs } from './cyclegan.js';
import { starGanGenerator, starGanGeneratorSpecs, type StarGanGeneratorConfig } from './stargan.js';
import { runTiled, type ImageNetwork } from './tiled-image-net.js';

/**
 * A generator trained by Atelier (CycleGAN's, StarGAN's) run as an image network: the weights file
 * its trainer exported (safetensors, with the architecture in its metadata), the image mapped to
 * the generators' [−1, 1], one compiled graph per tile size, large images tiled with feathered
 * overlaps, the result clipped to [0, 1].
 */

export interface TrainedGeneratorFile {
  tensors: TensorMap;
  metadata: Record<string, string>;
}

/** Read an exported generator file and check it is the architecture the method expects. */
export async function readTrainedGenerator(file: string, architecture: string, trainCommand: string): Promise<TrainedGeneratorFile> {
  const header = await readSafetensorsHeader(file);
  if (header.metadata.architecture !== architecture) {
    throw new AtelierError('E_WEIGHTS_INVALID', `Not a ${architecture} file`, {
      subject: file,
      expected: `safetensors metadata architecture ${architecture} (written by \`${trainCommand}\`)`,
      received: header.metadata.architecture ?? 'no architecture in the metadata',
    });
  }
  return { tensors: await readSafetensors(file), metadata: header.metadata };
}

/** A whole number from the file's metadata, or a clear error. */
export function metadataInteger(f: TrainedGeneratorFile, key: string, file: string): number {
  const v = Number(f.metadata[key]);
  if (!Number.isInteger(v) || v < 1) throw new AtelierError('E_WEIGHTS_INVALID', `The generator file has no valid ${key} in its metadata`, { subject: file, received: JSON.stringify(f.metadata[key]) });
  return v;
}

/** The parameter lookup a network builder takes, over a file's tensors (missing names fail clearly). */
export function tensorLookup(g: Graph, tensors: TensorMap, file: string, prefix = ''): (name: string) => Tensor {
  const made = new Map<string, Tensor>();
  return (name) => {
    const key = prefix + name;
    let t = made.get(key);
    if (!t) {
      const w = tensors.get(key);
      if (!w) throw new AtelierError('E_WEIGHTS_INVALID', `The generator file lacks ${key}`, { subject: file, hint: 'the file was written for another architecture, or is damaged' });
      t = g.param(key, w.shape, w.data);
      made.set(key, t);
    }
    return t;
  };
}

/** An image network from a builder: `build(g, x)` maps a 1×3×h×w tensor in [−1, 1] to the output. */
export function generatorNetwork(build: (g: Graph, x: Tensor) => Tensor, threads: number, multiple = 4): ImageNetwork {
  const runners = new Map<string, Promise<Runner>>();
  return {
    multiple,
    minSide: 32,
    async run(data, width, height) {
      const key = `${width}x${height}`;
      let runner = runners.get(key);
      if (!runner) {
        const g = new Graph();
        g.output('y', build(g, g.input('x', [1, 3, height, width])));
        runner = compile(g, { threads });
        runners.set(key, runner);
      }
      const out = await (await runner).run({ x: { data: data.map((v) => 2 * v - 1), shape: [1, 3, height, width] } });
      return (out.y!.data as Float32Array).map((v) => (v + 1) / 2);
    },
  };
}

export async function runGenerator(net: ImageNetwork, image: Image, o: { tileSize: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void }): Promise<Image> {
  const out = await runTiled(net, image, { tile: o.tileSize, margin: 32, ...(o.signal && { signal: o.signal }), ...(o.onProgress && { onProgress: o.onProgress }) });
  return clampImage(out);
}

const asMap = (tensors: { name: string; shape: number[]; data: Float32Array }[]): TensorMap => new Map(tensors.map((t) => [t.name, t]));

/** A seeded random generator of the given specs (the methods' stand-in when no model is given). */
function randomTensors(specs: ParameterSpec[], seed: number): TensorMap {
  return asMap(ParameterSet.initialised(specs, seed).tensors());
}

/**
 * A CycleGAN generator from `atelier train cyclegan`'s file: G_A (A→B) or G_B (B→A); `'random'`
 * gives a seeded random one (width 8, 2 blocks) to try the pipeline.
 */
export async function cycleGanNetwork(model: string, direction: 'a2b' | 'b2a', o: { seed: number; threads: number }): Promise<{ net: ImageNetwork; meta: Record<string, unknown> }> {
  const prefix = direction === 'a2b' ? 'G_A.' : 'G_B.';
  if (model === 'random') {
    const config = { width: 8, blocks: 2 };
    const tensors = randomTensors(cycleGanGeneratorSpecs(config, prefix), o.seed);
    return { net: generatorNetwork((g, x) => cycleGanGenerator(g, x, tensorLookup(g, tensors, 'random', prefix), config), o.threads), meta: { model: `random (seed ${o.seed}; not a trained model)` } };
  }
  const file = resolveTrainedModel('cyclegan', model);
  const f = await readTrainedGenerator(file, 'cyclegan-resnet-generator', 'atelier train cyclegan');
  const config = { width: metadataInteger(f, 'width', file), blocks: metadataInteger(f, 'blocks', file), skip: f.metadata.skip === 'true' };
  return {
    net: generatorNetwork((g, x) => cycleGanGenerator(g, x, tensorLookup(g, f.tensors, file, prefix), config), o.threads),
    meta: { model, direction, domains: `${f.metadata.a ?? 'A'} → ${f.metadata.b ?? 'B'}`, trainedIterations: Number(f.metadata.iterations) },
  };
}

/** The domains a StarGAN generator file was trained on, in label order. */
export function starGanDomains(f: TrainedGeneratorFile): string[] {
  return (f.metadata.domains ?? '').split(',').filter((d) => d !== '');
}

/**
 * A StarGAN generator from `atelier train stargan`'s file, conditioned on `domain` (a name the
 * file lists); `'random'` gives a seeded random one over domains a, b, c.
 */
export async function starGanNetwork(model: string, domain: string, o: { seed: number; threads: number }): Promise<{ net: ImageNetwork; meta: Record<string, unknown> }> {
  let tensors: TensorMap;
  let config: StarGanGeneratorConfig;
  let domains: string[];
  let file = 'random';
  if (model === 'random') {
    domains = ['a', 'b', 'c'];
    config = { width: 8, blocks: 2, domains: 3 };
    tensors = asMap(ParameterSet.initialised(starGanGeneratorSpecs(config, ''), o.seed).tensors());
  } else {
    file = resolveTrainedModel('stargan', model);
    const f = await readTrainedGenerator(file, 'stargan-generator', 'atelier train stargan');
    domains = starGanDomains(f);
    config = { width: metadataInteger(f, 'width', file), blocks: metadataInteger(f, 'blocks', file), domains: domains.length, skip: f.metadata.skip === 'true', labelNorm: f.metadata.labelNorm === 'true' };
    tensors = f.tensors;
  }
  const index = domains.indexOf(domain);
  if (index < 0) {
    throw new AtelierError('E_PARAM', `The StarGAN model has no domain ${JSON.stringify(domain)}`, {
      subject: model,
      expected: `one of ${domains.join(', ')}`,
      received: JSON.stringify(domain),
    });
  }
  const onehot = Array.from({ length: domains.length }, (_, i) => (i === index ? 1 : 0));
  return {
    net: generatorNetwork((g, x) => starGanGenerator(g, x, g.constant(onehot, [1, domains.length]), tensorLookup(g, tensors, file), config), o.threads),
    meta: { model: model === 'random' ? `random (seed ${o.seed}; not a trained model)` : model, domain, domains },
  };
}
