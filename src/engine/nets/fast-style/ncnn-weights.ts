import { AtelierError } from '../../../core/errors.js';
import { intParam, type NcnnLayer, type NcnnModel } from '../../weights/ncnn.js';
import type { TensorMap } from '../../weights/tensor.js';
import { transformerNetShapes, transformerNetNorms, type JohnsonNetSpec, PYTORCH_EXAMPLES_NET } from '../transformer-net.js';

/**
 * PyTorch examples' TransformerNet as converted to ncnn (ONNX model zoo → onnx2ncnn): the .param
 * graph is checked layer by layer against the Johnson net — reflection Padding by k/2 before each
 * Convolution (kernel, stride, channels as the architecture says), InstanceNorm after each but the
 * last, ReLU, residual BinaryOp adds, Interp nearest ×2 before the two upsampling convs — and the
 * weights of the n-th Convolution / InstanceNorm are mapped onto the n-th conv / norm of the net.
 * A graph that differs anywhere is refused with the layer and what was expected, so weights can
 * never be mapped onto the wrong layer silently.
 */

const CONV_KEYS = [
  'conv1', 'conv2', 'conv3',
  ...[1, 2, 3, 4, 5].flatMap((r) => [`res${r}.conv1`, `res${r}.conv2`]),
  'deconv1', 'deconv2', 'deconv3',
];

export function johnsonWeightsFromNcnn(model: NcnnModel, subject: string, spec: JohnsonNetSpec = PYTORCH_EXAMPLES_NET): TensorMap {
  const shapes = transformerNetShapes(spec);
  const norms = transformerNetNorms(spec);
  const mismatch = (layer: NcnnLayer | undefined, expected: string) =>
    new AtelierError('E_WEIGHTS_INVALID', 'The ncnn graph is not the fast-style TransformerNet', {
      subject,
      expected,
      received: layer ? `${layer.type} "${layer.name}" at line ${layer.line}` : 'the end of the graph',
    });
  const out: TensorMap = new Map();
  const convs = model.layers.filter((l) => l.type === 'Convolution');
  const ins = model.layers.filter((l) => l.type === 'InstanceNorm');
  if (convs.length !== CONV_KEYS.length) throw mismatch(convs[CONV_KEYS.length] ?? model.layers.at(-1), `${CONV_KEYS.length} Convolution layers (found ${convs.length})`);
  if (ins.length !== norms.length) throw mismatch(ins[norms.length] ?? model.layers.at(-1), `${norms.length} InstanceNorm layers (found ${ins.length})`);
  const byOutput = new Map(model.layers.flatMap((l) => l.outputs.map((o) => [o, l] as const)));
  convs.forEach((conv, i) => {
    const key = CONV_KEYS[i]!;
    const [cout, cin, k] = shapes.get(`${key}.conv2d.weight`)!;
    const stride = key === 'conv2' || key === 'conv3' ? 2 : 1;
    const kw = intParam(conv, 1, 0);
    if (intParam(conv, 0, 0) !== cout || kw !== k || intParam(conv, 11, kw) !== k || intParam(conv, 3, 1) !== stride || intParam(conv, 2, 1) !== 1 || intParam(conv, 4, 0) !== 0 || !intParam(conv, 5, 0)) {
      throw mismatch(conv, `for ${key}: ${cout} outputs, ${k}×${k} kernel, stride ${stride}, no built-in padding, with bias`);
    }
    // The conv's input must be a reflection Padding by k/2 (after an Interp ×2 for the upsampling convs).
    const pad = byOutput.get(conv.inputs[0]!);
    const half = Math.floor(k! / 2);
    if (!pad || pad.type !== 'Padding' || intParam(pad, 4, 0) !== 2 || [0, 1, 2, 3].some((s) => intParam(pad, s, 0) !== half)) {
      throw mismatch(pad ?? conv, `a reflection Padding of ${half} before ${key}`);
    }
    const up = byOutput.get(pad.inputs[0]!);
    const wantsUp = key === 'deconv1' || key === 'deconv2';
    const isUp = up?.type === 'Interp';
    if (wantsUp !== isUp || (isUp && (intParam(up!, 0, 0) !== 1 || up!.params.get(1) !== 2 || up!.params.get(2) !== 2))) {
      throw mismatch(up ?? pad, wantsUp ? `an Interp nearest ×2 before ${key}` : `no upsampling before ${key}`);
    }
    const weight = conv.weights.get('weight')!;
    if (weight.length !== cout! * cin! * k! * k!) throw mismatch(conv, `${cout! * cin! * k! * k!} weights for ${key} (${cin} input channels)`);
    out.set(`${key}.conv2d.weight`, { name: `${key}.conv2d.weight`, shape: [cout!, cin!, k!, k!], data: weight });
    out.set(`${key}.conv2d.bias`, { name: `${key}.conv2d.bias`, shape: [cout!], data: conv.weights.get('bias')! });
  });
  ins.forEach((norm, i) => {
    const { key, channels } = norms[i]!;
    const eps = norm.params.get(1);
    if (intParam(norm, 0, 0) !== channels || intParam(norm, 2, 1) !== 1 || typeof eps !== 'number' || Math.abs(eps - spec.normEps) > 1e-9) {
      throw mismatch(norm, `InstanceNorm ${key}: ${channels} channels, affine, ε = ${spec.normEps}`);
    }
    out.set(`${key}.weight`, { name: `${key}.weight`, shape: [channels], data: norm.weights.get('gamma')! });
    out.set(`${key}.bias`, { name: `${key}.bias`, shape: [channels], data: norm.weights.get('beta')! });
  });
  const unexpected = model.layers.find((l) => !['Input', 'Padding', 'Convolution', 'InstanceNorm', 'ReLU', 'Split', 'BinaryOp', 'Interp'].includes(l.type));
  if (unexpected) throw mismatch(unexpected, 'only Input, Padding, Convolution, InstanceNorm, ReLU, Split, BinaryOp (add) and Interp layers');
  const notAdd = model.layers.find((l) => l.type === 'BinaryOp' && intParam(l, 0, 0) !== 0);
  if (notAdd) throw mismatch(notAdd, 'BinaryOp add (0=0) for the residual connections');
  return out;
}
