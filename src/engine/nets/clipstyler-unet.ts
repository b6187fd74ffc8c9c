import type { Graph, Tensor } from '../graph/graph.js';
import type { ParameterSpec } from '../optim/parameter-set.js';

/**
 * CLIPstyler's stylisation network (Kwon & Ye 2022, §3.3 "a lightweight CNN"; the architecture of
 * their released `StyleNet.UNet`, read as facts): a U-Net of width ngf = 16 trained from scratch for
 * each content image and text.
 *
 * - every 3×3 conv is zero-padded and followed by an instance norm without affine parameters and a
 *   ReLU; each block adds a 1×1 conv of its input (a residual "skip");
 * - `conv_init` 1×1 3→16; `init` block 16→16;
 * - three down blocks (16→16, 16→32, 32→64), each two convs + skip, then a learned 4×4 stride-2
 *   conv (pad 1) halves the size; the features before it go across to the matching up block;
 * - `encoding` block 64→128 at 1/8 size;
 * - three up blocks: bilinear ×2 (align_corners=False), concatenated [upsampled, across], two
 *   convs + skip to 64, 32, 16 channels;
 * - `out` block over [up, conv_init's features] 32→16, `conv_fin` 1×1 16→3, sigmoid.
 *
 * Tensor names follow the PyTorch module (`down1.conv.0.weight`, `up3.skip.bias`, …), so a state
 * dict of that module loads as it is. Height and width must be multiples of 8.
 */

export const CLIPSTYLER_WIDTH = 16;

interface ConvDecl {
  name: string;
  cin: number;
  cout: number;
  k: number;
}

function convDecls(ngf: number): ConvDecl[] {
  const convs: ConvDecl[] = [];
  const conv = (name: string, cin: number, cout: number, k: number) => convs.push({ name, cin, cout, k });
  const block = (name: string, cin: number, cout: number) => {
    conv(`${name}.conv.0`, cin, cout, 3);
    conv(`${name}.conv.3`, cout, cout, 3);
    conv(`${name}.skip`, cin, cout, 1);
  };
  conv('conv_init', 3, ngf, 1);
  block('init', ngf, ngf);
  const down: [number, number][] = [[ngf, ngf], [ngf, 2 * ngf], [2 * ngf, 4 * ngf]];
  down.forEach(([cin, cout], i) => {
    block(`down${i + 1}`, cin, cout);
    conv(`down${i + 1}.downsample`, cout, cout, 4);
  });
  block('encoding', 4 * ngf, 8 * ngf);
  // UpBlock(in, out): its convs read out + in channels (the upsampled `in` and the `out` across).
  const up: [string, number, number][] = [['up3', 8 * ngf, 4 * ngf], ['up2', 4 * ngf, 2 * ngf], ['up1', 2 * ngf, ngf]];
  for (const [name, cin, cout] of up) block(name, cin + cout, cout);
  block('out', 2 * ngf, ngf);
  conv('conv_fin', ngf, 3, 1);
  return convs;
}

/** Every weight and bias, with PyTorch's default conv initialisation (uniform ±1/√fan_in). */
export function clipStylerUnetSpecs(ngf = CLIPSTYLER_WIDTH): ParameterSpec[] {
  return convDecls(ngf).flatMap(({ name, cin, cout, k }) => {
    const bound = 1 / Math.sqrt(cin * k * k);
    return [
      { name: `${name}.weight`, shape: [cout, cin, k, k], init: { kind: 'uniform', bound } },
      { name: `${name}.bias`, shape: [cout], init: { kind: 'uniform', bound } },
    ] satisfies ParameterSpec[];
  });
}

/** The network on `image` [N, 3, H, W] in [0, 1] → [N, 3, H, W] in (0, 1). `p` looks weights up by name. */
export function clipStylerUnet(g: Graph, image: Tensor, p: (name: string) => Tensor): Tensor {
  const channels = new Map<string, number>();
  const conv = (x: Tensor, name: string, o: { pad?: number; stride?: number } = {}) => {
    const w = p(`${name}.weight`);
    channels.set(name, w.shape[0] as number);
    return g.conv(x, w, p(`${name}.bias`), o);
  };
  const norm = (x: Tensor, name: string) => {
    const c = channels.get(name)!;
    return g.instanceNorm(x, g.constant(new Float32Array(c).fill(1), [c]), g.constant(new Float32Array(c), [c]));
  };
  const block = (x: Tensor, name: string) => {
    let h = g.relu(norm(conv(x, `${name}.conv.0`, { pad: 1 }), `${name}.conv.0`));
    h = g.relu(norm(conv(h, `${name}.conv.3`, { pad: 1 }), `${name}.conv.3`));
    return g.add(h, conv(x, `${name}.skip`));
  };
  const x = conv(image, 'conv_init');
  const start = block(x, 'init');
  const across: Tensor[] = [];
  let h = start;
  for (const name of ['down1', 'down2', 'down3']) {
    const f = block(h, name);
    across.push(f);
    h = conv(f, `${name}.downsample`, { pad: 1, stride: 2 });
  }
  h = block(h, 'encoding');
  for (const name of ['up3', 'up2', 'up1']) h = block(g.concat([g.resize(h, 2, 'linear'), across.pop()!], 1), name);
  h = block(g.concat([h, start], 1), 'out');
  return g.sigmoid(conv(h, 'conv_fin'));
}
