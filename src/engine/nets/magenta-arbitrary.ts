import { Image } from '../../core/image.js';
import { resizeImage } from '../../core/resample.js';
import { ImportedNetwork } from './imported-network.js';

/**
 * Magenta's arbitrary style transfer, mobile version (Ghiasi, Lee, Kudlur, Dumoulin & Shlens,
 * BMVC 2017): an int8 MobileNetV2 predicts a 100-d style vector from any style image (256×256);
 * a transfer network whose instance norms take their scales and shifts from that vector stylises
 * the content. Mixing styles and the strength of a style are linear operations on style vectors
 * (the paper's interpolation between the content's own vector and the style's).
 */

export const ARBITRARY = {
  model: 'magenta-arbitrary',
  predictor: { file: 'style_predict_quantized_256.tflite', input: 'style_image', size: 256 },
  /** The transfer networks the model ships (file, and the model store's variant holding it); all run at any size. */
  transfer: {
    fp16: { file: 'style_transfer_f16_384.tflite', variant: 'f16' },
    int8: { file: 'style_transfer_quantized_384.tflite', variant: 'int8' },
    dynamic: { file: 'style_transfer_quantized_dynamic.tflite', variant: 'dynamic' },
  },
  contentInput: 'content_image',
  vectorInput: 'mobilenet_conv/Conv/BiasAdd',
  dims: 100,
  licence: 'Apache-2.0 (TensorFlow / Magenta)',
} as const;

/** The kind of a transfer network made here (`atelier lora merge --base magenta-arbitrary`: the fp16 network's weights, merged). */
export const ARBITRARY_MERGED_KIND = 'arbitrary';

export type TransferVariant = keyof typeof ARBITRARY.transfer;

/** The largest centred square of `img`, resized to `size`² (how the predictor was fed in training). */
export function centreSquare(img: Image, size: number): Image {
  const side = Math.min(img.width, img.height);
  const x0 = Math.floor((img.width - side) / 2);
  const y0 = Math.floor((img.height - side) / 2);
  const crop = new Image(side, side, 3);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < side; y++) crop.data.set(img.data.subarray((c * img.height + y0 + y) * img.width + x0, (c * img.height + y0 + y) * img.width + x0 + side), (c * side + y) * side);
  return side === size ? crop : resizeImage(crop, size, size);
}

/** The 100-d style vector of an image. */
export async function predictStyleVector(predictor: ImportedNetwork, img: Image): Promise<Float32Array> {
  const s = ARBITRARY.predictor.size;
  const { runner } = await predictor.at({ [ARBITRARY.predictor.input]: [1, s, s, 3] });
  const square = centreSquare(img, s);
  const out = await runner.run({ [ARBITRARY.predictor.input]: { data: square.data, shape: [1, 3, s, s] } });
  return Float32Array.from(Object.values(out)[0]!.data as Float32Array);
}

/** Σ wᵢ·vᵢ (weights as given: callers pass convex weights). */
export function blendVectors(list: { vector: Float32Array; weight: number }[]): Float32Array {
  const out = new Float32Array(ARBITRARY.dims);
  for (const { vector, weight } of list) for (let i = 0; i < out.length; i++) out[i]! += weight * vector[i]!;
  return out;
}
