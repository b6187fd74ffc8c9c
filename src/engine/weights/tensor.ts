/**
 * A named tensor read from a weight file, converted to float32 whatever its stored dtype, in
 * row-major (contiguous) order. Readers (safetensors, .pth) return a TensorMap keyed by the file's
 * own names (e.g. `features.0.weight`); networks map those names onto their parameters.
 */
export interface WeightTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export type TensorMap = Map<string, WeightTensor>;
