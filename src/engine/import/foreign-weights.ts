import type { TfGraph } from '../weights/graphdef.js';
import type { WeightTensor } from '../weights/tensor.js';
import { tfliteTensorValues, type TfliteModel } from '../weights/tflite.js';
import { dequantizeQuint8 } from './graphdef-import.js';

/**
 * The weights of a published TFLite or frozen TF1 network as float32 tensors, dequantised exactly as
 * the importers dequantise them, so that a network written elsewhere (a PyTorch reference) runs the
 * very values Atelier runs. Tensors keep the file's layout (TFLite conv filters OHWI, depthwise
 * [1, H, W, C·m]; TF filters HWIO) and names:
 * - a convolution's filter under the filter tensor's name and its bias under `<filter>:bias`
 *   (TFLite converters give biases names borrowed from other layers, so the filter names the pair);
 * - a TFLite constant seen through DEQUANTIZE (float16 files) under the DEQUANTIZE output's name
 *   as well as its own;
 * - a TF eight-bit filter (`…/weights_quint8_const` with `_min`/`_max`) under `…/weights`;
 * - every other constant under its own name.
 * A name used twice gets `#<tensor index>` on its second use, as the importer names params.
 */
export function foreignWeights(model: TfliteModel | TfGraph): WeightTensor[] {
  return 'subgraphs' in model ? tfliteWeights(model) : graphDefWeights(model);
}

function tfliteWeights(model: TfliteModel): WeightTensor[] {
  const sg = model.subgraphs[0]!;
  const out = new Map<string, WeightTensor>();
  const put = (name: string, index: number, shape: number[], data: Float32Array) => {
    const key = out.has(name) ? `${name}#${index}` : name;
    out.set(key, { name: key, shape: [...shape], data });
  };
  const values = new Map<number, Float32Array>();
  sg.tensors.forEach((t, i) => {
    if (!t.data || !t.shape.every((d) => d > 0)) return;
    const v = tfliteTensorValues(model, t);
    values.set(i, v);
    put(t.name, i, t.shape, v);
  });
  for (const o of sg.operators) {
    if (o.op === 'DEQUANTIZE' && values.has(o.inputs[0]!)) {
      const t = sg.tensors[o.outputs[0]!]!;
      values.set(o.outputs[0]!, values.get(o.inputs[0]!)!);
      put(t.name, o.outputs[0]!, t.shape, values.get(o.inputs[0]!)!);
    }
  }
  for (const o of sg.operators) {
    if (o.op !== 'CONV_2D' && o.op !== 'DEPTHWISE_CONV_2D') continue;
    const [, f, b] = o.inputs;
    if (f === undefined || b === undefined || b < 0 || !values.has(f) || !values.has(b)) continue;
    const name = `${sg.tensors[f]!.name}:bias`;
    if (!out.has(name)) out.set(name, { name, shape: [...sg.tensors[b]!.shape], data: values.get(b)! });
  }
  return [...out.values()];
}

function graphDefWeights(tf: TfGraph): WeightTensor[] {
  const byName = new Map(tf.nodes.map((n) => [n.name, n]));
  const constant = (input: string) => {
    const a = byName.get(input.split(':')[0]!)?.attrs.value;
    return a?.kind === 'tensor' ? a.value : undefined;
  };
  const out: WeightTensor[] = [];
  for (const n of tf.nodes) {
    if (n.op === 'QuantizedConv2D') {
      const [, filter, , , min, max] = n.inputs;
      const q = constant(filter!);
      const lo = constant(min!)?.values[0];
      const hi = constant(max!)?.values[0];
      if (!q || lo === undefined || hi === undefined) continue;
      out.push({ name: filter!.split(':')[0]!.replace(/_quint8_const$/, ''), shape: [...q.shape], data: dequantizeQuint8(q.values, lo, hi, tf.file, n) });
    } else if (n.op === 'Const' && n.attrs.value?.kind === 'tensor') {
      const v = n.attrs.value.value;
      if (v.dtype === 'float' || v.dtype === 'half' || v.dtype === 'double') out.push({ name: n.name, shape: [...v.shape], data: v.values });
    }
  }
  return out;
}
