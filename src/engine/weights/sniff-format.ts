/**
 * What a model file's first bytes say it is, for messages when a file of one format is read as
 * another ("the file is a TensorFlow Lite model, not an ONNX model"). Signatures: TFLite's
 * FlatBuffers identifier at byte 4, zip (PyTorch .pth), pickle protocol 2–5 (legacy .pth),
 * HDF5's 8-byte signature, ncnn's param magic, and JSON (deeplearn.js manifests).
 */

export type SniffedFormat = 'tflite' | 'zip' | 'pickle' | 'hdf5' | 'ncnn-param' | 'json';

const DESCRIPTIONS: Record<SniffedFormat, string> = {
  tflite: 'a TensorFlow Lite model (FlatBuffers identifier TFL3)',
  zip: 'a zip archive (a PyTorch .pth?)',
  pickle: 'a Python pickle (a PyTorch legacy file?)',
  hdf5: 'an HDF5 file (Keras weights?)',
  'ncnn-param': 'an ncnn .param file',
  json: 'a JSON text',
};

export function sniffFormat(bytes: Uint8Array): SniffedFormat | undefined {
  const text = (a: number, b: number) => String.fromCharCode(...bytes.subarray(a, b));
  if (text(4, 8) === 'TFL3') return 'tflite';
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'zip';
  if (bytes[0] === 0x80 && bytes[1] !== undefined && bytes[1] >= 2 && bytes[1] <= 5) return 'pickle';
  if (text(0, 8) === '\x89HDF\r\n\x1a\n') return 'hdf5';
  if (text(0, 7) === '7767517') return 'ncnn-param';
  if (bytes[0] === 0x7b || bytes[0] === 0x5b) return 'json';
  return undefined;
}

/** A description of the file's format when it is a known one other than `except`. */
export function describeForeignFormat(bytes: Uint8Array, except?: SniffedFormat): string | undefined {
  const format = sniffFormat(bytes);
  return format && format !== except ? DESCRIPTIONS[format] : undefined;
}
