import path from 'node:path';
import { AtelierError } from '../../../core/errors.js';
import { readDeeplearnCheckpoint } from '../../weights/deeplearnjs.js';
import { readNcnnModel } from '../../weights/ncnn.js';
import { readPth } from '../../weights/pth.js';
import type { TensorMap } from '../../weights/tensor.js';
import { ENGSTROM_NET, PYTORCH_EXAMPLES_NET, type JohnsonNetSpec } from '../transformer-net.js';
import { johnsonWeightsFromEngstrom } from './engstrom-weights.js';
import { johnsonWeightsFromNcnn } from './ncnn-weights.js';
import { modelFilePath } from '../model-files.js';

/**
 * The published per-style fast networks (the report's PSPM), by model-store name. Each is one
 * network per style, Johnson et al.'s architecture in one of three publications:
 * - `fst-engstrom-*`: Engstrom's TensorFlow models as ported to deeplearn.js (reiinakano);
 * - `fst-pytorch-*`: PyTorch examples' models as converted to ncnn (ONNX model zoo → ncnn);
 * - `fst-small16-*` / `fst-small8-*`: the PyTorch examples' net retrained at 16 / 8 base channels.
 * `files` are paths in the published layout (as `../shared/weights` and a model mirror hold them).
 */

export type FastStyleSource = 'engstrom' | 'pytorch' | 'small16' | 'small8';

export interface FastStyleModel {
  name: string;
  style: string;
  source: FastStyleSource;
  format: 'deeplearnjs' | 'ncnn' | 'pth';
  spec: JohnsonNetSpec;
  /** Files in the published layout; the first is the one readers start from. */
  files: string[];
}

export const FAST_STYLE_SOURCES: Record<FastStyleSource, string> = {
  engstrom: "Engstrom's fast-style-transfer (TensorFlow), deeplearn.js port by reiinakano; MIT",
  pytorch: "PyTorch examples' fast_neural_style via the ONNX model zoo, as ncnn fp16; BSD-3 / MIT",
  small16: "PyTorch examples' net retrained at 16 base channels (fst-small, 425 k params); no licence stated",
  small8: "PyTorch examples' net retrained at 8 base channels (fst-small, 109 k params); no licence stated",
};

const ENGSTROM_STYLES = ['la_muse', 'rain_princess', 'scream', 'udnie', 'wave', 'wreck'];
const PYTORCH_STYLES = ['candy', 'mosaic', 'pointilism', 'rain_princess', 'udnie'];
const SMALL_STYLES = ['candy', 'mosaic', 'rain-princess', 'udnie'];
const ENGSTROM_VARIABLES = ['manifest.json', 'Variable', ...Array.from({ length: 47 }, (_, i) => `Variable_${i + 1}`)];

export const FAST_STYLE_MODELS: FastStyleModel[] = [
  ...ENGSTROM_STYLES.map((style): FastStyleModel => ({
    name: `fst-engstrom-${style}`,
    style,
    source: 'engstrom',
    format: 'deeplearnjs',
    spec: ENGSTROM_NET,
    files: ENGSTROM_VARIABLES.map((f) => `fst-engstrom/${style}/${f}`),
  })),
  ...PYTORCH_STYLES.map((style): FastStyleModel => ({
    name: `fst-pytorch-${style}`,
    style,
    source: 'pytorch',
    format: 'ncnn',
    spec: PYTORCH_EXAMPLES_NET,
    files: ['fst-ncnn/styletransfer.param', `fst-ncnn/${style}.bin`],
  })),
  ...([16, 8] as const).flatMap((nc) =>
    SMALL_STYLES.map((style): FastStyleModel => ({
      name: `fst-small${nc}-${style}`,
      style,
      source: nc === 16 ? 'small16' : 'small8',
      format: 'pth',
      spec: { ...PYTORCH_EXAMPLES_NET, width: nc },
      files: [`fst-small/saved_models_nc${nc}/${style}_nc${nc}_b1_e2_1e05_1e10.model`],
    })),
  ),
];

export const FAST_STYLE_MODEL_NAMES = FAST_STYLE_MODELS.map((m) => m.name) as [string, ...string[]];

export function fastStyleModel(name: string): FastStyleModel {
  const m = FAST_STYLE_MODELS.find((x) => x.name === name);
  if (!m) {
    throw new AtelierError('E_PARAM', `Unknown fast-style model "${name}"`, { subject: 'model', expected: `one of ${FAST_STYLE_MODEL_NAMES.join(', ')}`, received: JSON.stringify(name) });
  }
  return m;
}

/**
 * Read a model's weights, given where its files are (`locate` maps a published path to a local
 * one), as the Johnson net's named tensors for `model.spec`.
 */
export async function readFastStyleWeights(model: FastStyleModel, locate: (file: string) => string): Promise<TensorMap> {
  const first = locate(model.files[0]!);
  switch (model.format) {
    case 'deeplearnjs':
      return johnsonWeightsFromEngstrom(await readDeeplearnCheckpoint(first), first);
    case 'ncnn': {
      const bin = locate(model.files[1]!);
      return johnsonWeightsFromNcnn(await readNcnnModel(first, bin), `${first} + ${bin}`, model.spec);
    }
    case 'pth':
      return readPth(first);
  }
}

/** A model's files where the model store installs them (`$ATELIER_HOME/models/NAME/FILE`). */
export function locateInstalled(model: FastStyleModel): (file: string) => string {
  // Check every file first: E_WEIGHTS_MISSING names the first absent one and the pull command.
  for (const f of model.files) modelFilePath(model.name, path.basename(f));
  return (file) => modelFilePath(model.name, path.basename(file));
}

/** A model's files under `dir` in the published layout (a mirror such as `../shared/weights`). */
export function locateInFolder(dir: string): (file: string) => string {
  return (file) => path.join(dir, file);
}
