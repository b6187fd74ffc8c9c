import { AtelierError } from '../../core/errors.js';
import { clampImage, type Image } from '../../core/image.js';
import { Graph, type Tensor } from '../graph/graph.js';
import { compile, type Runner } from '../runtime.js';
import { readSafetensors, readSafetensorsHeader } from '../weights/safetensors.js';
import type { TensorMap } from '../weights/tensor.js';
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
