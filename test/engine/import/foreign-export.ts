import { writeFileSync } from 'node:fs';
import type { TfGraph } from '../../../src/engine/weights/graphdef.js';
import { tfliteTensorValues, type TfliteModel } from '../../../src/engine/weights/tflite.js';

/**
 * Writes a parsed foreign graph as JSON (operators with their attributes) plus one float32 blob of
 * its constants, for numpy_interpreter.py: the reference runs the file's own operators in NHWC with
 * its own op semantics, independent of the importer's NCHW translation. Option fields are read
 * with schema.fbs's ids (the format, not the semantics, is shared).
 */

interface Exported {
  format: 'tflite' | 'graphdef';
  constants: Record<string, { shape: number[]; offset: number; dtype: string }>;
  ops: { op: string; name: string; inputs: string[]; outputs: string[]; attrs: Record<string, unknown> }[];
  inputs: string[];
  outputs: string[];
}

function writeBlob(chunks: Float32Array[], file: string): void {
  const total = chunks.reduce((s, c) => s + c.length, 0);
  const all = new Float32Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  writeFileSync(file, all);
}

export function exportTflite(model: TfliteModel, jsonFile: string, blobFile: string): void {
  const sg = model.subgraphs[0]!;
  const chunks: Float32Array[] = [];
  let offset = 0;
  const out: Exported = { format: 'tflite', constants: {}, ops: [], inputs: sg.inputs.map(String), outputs: sg.outputs.map(String) };
  sg.tensors.forEach((t, i) => {
    if (!t.data) return;
    const v = tfliteTensorValues(model, t);
    out.constants[String(i)] = { shape: t.shape, offset, dtype: t.type };
    chunks.push(v);
    offset += v.length;
  });
  for (const o of sg.operators) {
    const f = o.options;
    const int = (id: number, dflt = 0) => f?.scalar(id, 'int32', dflt) ?? dflt;
    const byte = (id: number) => f?.scalar(id, 'int8') ?? 0;
    const attrs: Record<string, unknown> = {};
    switch (o.op) {
      case 'CONV_2D':
        Object.assign(attrs, { padding: byte(0), stride: [int(2, 1), int(1, 1)], fused: byte(3), dilation: [int(5, 1), int(4, 1)] });
        break;
      case 'DEPTHWISE_CONV_2D':
        Object.assign(attrs, { padding: byte(0), stride: [int(2, 1), int(1, 1)], multiplier: int(3, 1), fused: byte(4), dilation: [int(6, 1), int(5, 1)] });
        break;
      case 'ADD':
      case 'SUB':
      case 'MUL':
      case 'DIV':
        attrs.fused = byte(0);
        break;
      case 'MEAN':
      case 'SUM':
        attrs.keep_dims = f?.scalar(0, 'uint8') ?? 0;
        break;
      case 'MIRROR_PAD':
        attrs.mode = byte(0);
        break;
      case 'RESIZE_BILINEAR':
        Object.assign(attrs, { align_corners: f?.scalar(2, 'uint8') ?? 0, half_pixel_centers: f?.scalar(3, 'uint8') ?? 0 });
        break;
      case 'RESIZE_NEAREST_NEIGHBOR':
        Object.assign(attrs, { align_corners: f?.scalar(0, 'uint8') ?? 0, half_pixel_centers: f?.scalar(1, 'uint8') ?? 0 });
        break;
      case 'LEAKY_RELU':
        attrs.alpha = f?.scalar(0, 'float32') ?? 0.2;
        break;
      case 'STRIDED_SLICE':
        Object.assign(attrs, { begin_mask: int(0), end_mask: int(1), shrink_axis_mask: int(4) });
        break;
      case 'PACK':
        attrs.axis = int(1);
        break;
      case 'CONCATENATION':
        Object.assign(attrs, { axis: int(0), fused: byte(1) });
        break;
      case 'RESHAPE':
        attrs.new_shape = f?.scalars(0, 'int32', 'new_shape') ?? null;
        break;
    }
    out.ops.push({ op: o.op, name: `operator ${o.index}`, inputs: o.inputs.map(String), outputs: o.outputs.map(String), attrs });
  }
  writeFileSync(jsonFile, JSON.stringify(out));
  writeBlob(chunks, blobFile);
}

export function exportGraphDef(tf: TfGraph, outputs: string[], jsonFile: string, blobFile: string): void {
  const chunks: Float32Array[] = [];
  let offset = 0;
  const out: Exported = { format: 'graphdef', constants: {}, ops: [], inputs: [], outputs };
  for (const n of tf.nodes) {
    if (n.op === 'Const' && n.attrs.value?.kind === 'tensor') {
      const t = n.attrs.value.value;
      out.constants[n.name] = { shape: t.shape, offset, dtype: t.dtype };
      chunks.push(t.values);
      offset += t.values.length;
      continue;
    }
    if (n.op === 'Placeholder') out.inputs.push(n.name);
    const attrs: Record<string, unknown> = {};
    for (const [k, a] of Object.entries(n.attrs)) {
      if (a.kind === 'list') attrs[k] = a.ints;
      else if (a.kind !== 'tensor') attrs[k] = a.value;
    }
    out.ops.push({ op: n.op, name: n.name, inputs: n.inputs, outputs: [n.name], attrs });
  }
  writeFileSync(jsonFile, JSON.stringify(out));
  writeBlob(chunks, blobFile);
}
