import { AtelierError } from '../../core/errors.js';
import { readPth, type ReadPthOptions } from './pth.js';
import { readSafetensors } from './safetensors.js';
import { openWeights } from './weight-file.js';
import type { TensorMap } from './tensor.js';

export type WeightFormat = 'safetensors' | 'pth';

/**
 * Tell a weight file's format from its first bytes (not its name): a zip or pickle is a PyTorch
 * file; an 8-byte length followed by `{` is safetensors.
 */
export async function detectWeightFormat(file: string): Promise<WeightFormat> {
  const fh = await openWeights(file);
  try {
    const head = new Uint8Array(9);
    const { bytesRead } = await fh.read(head, 0, 9, 0);
    if (bytesRead >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'pth';
    if (bytesRead >= 2 && head[0] === 0x80 && head[1]! <= 5) return 'pth';
    if (bytesRead === 9 && head[8] === 0x7b) return 'safetensors';
    throw new AtelierError('E_WEIGHTS_INVALID', 'The file is neither safetensors nor a PyTorch .pth file', {
      subject: file,
      expected: 'a safetensors file or a file written by torch.save',
    });
  } finally {
    await fh.close();
  }
}

/** Read any weight file Atelier supports into float32 tensors keyed by the file's own names. */
export async function readWeights(file: string, options: ReadPthOptions = {}): Promise<TensorMap> {
  return (await detectWeightFormat(file)) === 'safetensors' ? readSafetensors(file, options) : readPth(file, options);
}
