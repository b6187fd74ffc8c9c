import { AtelierError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import type { TensorMap, WeightTensor } from '../engine/weights/tensor.js';

/**
 * The history of generated images a GAN discriminator is shown (Shrivastava et al. 2017, used by
 * CycleGAN with 50 images): until the pool is full each new image is kept and shown; after that,
 * half of the time a random stored image is shown and the new one takes its place, otherwise the
 * new image is shown. The discriminator so sees older generator outputs too, which damps
 * oscillation. The pool is part of a training checkpoint: a resumed run shows the same images.
 */
export class ImagePool {
  private readonly images: Float32Array[] = [];

  constructor(
    readonly capacity: number,
    /** Values per image (3·H·W). */
    readonly imageSize: number,
  ) {}

  get length(): number {
    return this.images.length;
  }

  /** The image to show the discriminator in place of `image` (a copy is kept, never the caller's array). */
  query(image: Float32Array, rng: Rng): Float32Array {
    if (this.capacity === 0) return image;
    if (this.images.length < this.capacity) {
      this.images.push(image.slice());
      return image;
    }
    if (rng.next() > 0.5) {
      const i = rng.int(this.capacity);
      const shown = this.images[i]!;
      this.images[i] = image.slice();
      return shown;
    }
    return image;
  }

  /** The stored images as one tensor `name` [n, imageSize] (absent when empty). */
  toTensors(name: string): WeightTensor[] {
    if (this.images.length === 0) return [];
    const data = new Float32Array(this.images.length * this.imageSize);
    this.images.forEach((img, i) => data.set(img, i * this.imageSize));
    return [{ name, shape: [this.images.length, this.imageSize], data }];
  }

  /** Restore from `toTensors` (no tensor: an empty pool). */
  restore(tensors: TensorMap, name: string, subject: string): void {
    this.images.length = 0;
    const t = tensors.get(name);
    if (!t) return;
    if (t.shape.length !== 2 || t.shape[1] !== this.imageSize || t.shape[0]! > this.capacity) {
      throw new AtelierError('E_WEIGHTS_INVALID', `The checkpoint's image pool ${name} does not fit this training`, {
        subject,
        expected: `at most ${this.capacity} images of ${this.imageSize} values`,
        received: `[${t.shape.join(', ')}]`,
        hint: 'resume with the crop size and pool size the checkpoint was written with',
      });
    }
    for (let i = 0; i < t.shape[0]!; i++) this.images.push(t.data.slice(i * this.imageSize, (i + 1) * this.imageSize));
  }
}
