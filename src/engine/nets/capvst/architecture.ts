/**
 * CAP-VSTNet's reversible residual network (Wen, Gao & Zou, "CAP-VSTNet: Content Affinity
 * Preserved Versatile Style Transfer", CVPR 2023, arXiv:2303.17867): the facts our definition
 * follows, read from the authors' public code (github.com/linfengWen98/CAP-VSTNet, MIT,
 * `models/RevResNet.py`, `image_transfer.py`, `train.py`, commit 76a14b6). Nothing is copied;
 * these are the shapes and orders a published checkpoint needs.
 *
 * Construction (`RevResNet(nBlocks=[10,10,10], nStrides=[1,2,2], nChannels=[16,64,256],
 * in_channel=3, mult=4, hidden_dim, sp_steps)`):
 * - Injective pad: the 3 input channels are followed by 2·nChannels[0] − 3 = 29 zero channels
 *   (appended after the existing ones), then split into halves x1 = channels 0–15 (RGB + 13 zeros)
 *   and x2 = channels 16–31 (zeros). The inverse drops the padded channels.
 * - 30 residual blocks in `stack` (indices 0–29), 10 per stage; the first block of stages 2 and 3
 *   has stride 2. A block with channels c and stride s maps (x1, x2) to (x2', y1) where
 *   y1 = F(x2) + x1' (additive coupling), and x' is x squeezed (s = 2) or x itself (s = 1).
 *   Inverse: x2 = unsqueeze(x2'); x1' = y1 − F(x2); x1 = unsqueeze(x1').
 * - F = Sequential(ReflectionPad2d(1), Conv2d(in, c/4, 3, stride s), ReLU, ReflectionPad2d(1),
 *   Conv2d(c/4, c/4, 3), ReLU, ReflectionPad2d(1), Conv2d(c/4, c, 3)); in = c for s = 1 and c/4
 *   for s = 2 (the half before squeezing). All convolutions have a bias (initialised to zero).
 *   Parameters are therefore `conv.1`, `conv.4`, `conv.7` (Sequential indices).
 * - squeeze (space to channels, factor 2): reshape (B, d, h/2, 2, w/2, 2), permute (0,3,5,1,2,4),
 *   reshape (B, 4d, h/2, w/2): output channel (dy·2 + dx)·d + c, i.e. ONNX SpaceToDepth.
 *   unsqueeze is its exact inverse, ONNX DepthToSpace in DCR mode.
 * - After the stack the halves are concatenated (2·256 = 512 channels at 1/4 size) and fed to
 *   the channel refinement module `channel_reduction(in_ch=256, out_ch=hidden_dim, sp_steps)`:
 *   split into halves, zero-pad each half to hidden_dim·4^sp_steps channels (0 extra for both
 *   published settings), 2 residual blocks of stride 1 and channels hidden_dim·4^sp_steps (= 256)
 *   in `channel_reduction.block_list`, concatenate, then sp_steps unsqueezes ("spread"). Its
 *   inverse: sp_steps squeezes, split, blocks inverted in reverse order, unpad, concatenate.
 * - Photorealistic: hidden_dim 16, sp_steps 2 → features of 32 channels at full resolution.
 *   Artistic: hidden_dim 64, sp_steps 1 → features of 128 channels at half resolution.
 * - The input's height and width must be multiples of prod(nStrides) = 4 (`img_resize` crops the
 *   resized image down to a multiple of 4); inference runs at `max_size` 1280 by default.
 * - Checkpoints (`photo_image.pt`, `photo_video.pt`, `art_image.pt`, `art_video.pt`) are
 *   `torch.save({'state_dict': net.state_dict()})`; training's `last.pt` adds `optimizer`.
 *   The state dict holds only the 32 blocks' conv weights and biases (no buffers): keys
 *   `stack.{0..29}.conv.{1,4,7}.{weight,bias}` and
 *   `channel_reduction.block_list.{0,1}.conv.{1,4,7}.{weight,bias}`, 192 tensors in all.
 *
 * Training facts (train.py): Adam, lr 1e-4 decayed as lr / (1 + 5e-5·iteration); batch 2 of
 * 256² crops of images resized to 512; losses: style (AdaIN-style mean/std MSE on normalised
 * VGG19 relu1_1…relu4_1 of the stylised image vs the style) weight 1; content weight 0;
 * cycle reconstruction L1(inverse(cWCT(forward(stylised), z_content)), content) weight 10
 * (artistic: 1); Matting Laplacian weight 1500 (artistic: 1) applied as a gradient on the
 * stylised image, clamped to ±0.05; temporal loss weight 60 in the video fine-tuning phase
 * (last 10 000 of 170 000 iterations); gradient norm clipped to 5.
 */

export type CapVstMode = 'photoreal' | 'artistic';

export interface RevNetConfig {
  mode: CapVstMode;
  nBlocks: readonly number[];
  nStrides: readonly number[];
  nChannels: readonly number[];
  inChannels: number;
  /** Hidden width of a block's convolutions is channels / mult. */
  mult: number;
  /** `hidden_dim` of the channel refinement module. */
  refineHidden: number;
  /** `sp_steps`: unsqueezes at the end of the refinement module. */
  spreadSteps: number;
  refineBlocks: number;
  kernel: number;
}

const PUBLISHED = { nBlocks: [10, 10, 10], nStrides: [1, 2, 2], nChannels: [16, 64, 256], inChannels: 3, mult: 4, refineBlocks: 2, kernel: 3 } as const;

export const CAPVST_CONFIGS: Record<CapVstMode, RevNetConfig> = {
  photoreal: { mode: 'photoreal', ...PUBLISHED, refineHidden: 16, spreadSteps: 2 },
  artistic: { mode: 'artistic', ...PUBLISHED, refineHidden: 64, spreadSteps: 1 },
};

/** One additive-coupling block: F maps the second half (`inChannels`) to `channels`. */
export interface CouplingBlock {
  /** State-dict prefix, e.g. `stack.10.conv` or `channel_reduction.block_list.0.conv`. */
  prefix: string;
  /** Channels of each half after the block. */
  channels: number;
  /** Channels of F's input (each half before the block). */
  inChannels: number;
  hidden: number;
  stride: 1 | 2;
}

export interface RevNetLayout {
  config: RevNetConfig;
  /** Zero channels appended to the input image. */
  inputPad: number;
  stack: CouplingBlock[];
  /** Zero channels appended to each half before the refinement blocks. */
  refinePad: number;
  refine: CouplingBlock[];
  /** Channels of the feature map z. */
  featureChannels: number;
  /** z is (H / featureStride) × (W / featureStride). */
  featureStride: number;
  /** Image sides must be multiples of this. */
  sizeMultiple: number;
}

export function revNetLayout(config: RevNetConfig): RevNetLayout {
  const stack: CouplingBlock[] = [];
  let half = config.nChannels[0]!;
  let scale = 1;
  config.nChannels.forEach((channels, stage) => {
    for (let b = 0; b < config.nBlocks[stage]!; b++) {
      const stride = (b === 0 ? config.nStrides[stage]! : 1) as 1 | 2;
      const inChannels = stride === 1 ? channels : channels / 4;
      if (inChannels !== half) throw new Error(`RevNet config: block ${stack.length} expects ${inChannels} channels per half, has ${half}`);
      stack.push({ prefix: `stack.${stack.length}.conv`, channels, inChannels, hidden: channels / config.mult, stride });
      if (stride === 2) scale *= 2;
      half = channels;
    }
  });
  const refineChannels = config.refineHidden * 4 ** config.spreadSteps;
  const refinePad = refineChannels - config.nChannels[config.nChannels.length - 1]!;
  const refine: CouplingBlock[] = [];
  for (let b = 0; b < config.refineBlocks; b++) {
    refine.push({
      prefix: `channel_reduction.block_list.${b}.conv`,
      channels: refineChannels,
      inChannels: refineChannels,
      hidden: refineChannels / config.mult,
      stride: 1,
    });
  }
  return {
    config,
    inputPad: 2 * config.nChannels[0]! - config.inChannels,
    stack,
    refinePad,
    refine,
    featureChannels: (2 * refineChannels) / 4 ** config.spreadSteps,
    featureStride: scale / 2 ** config.spreadSteps,
    sizeMultiple: scale,
  };
}

/** The three convolutions of F, in state-dict order: [suffix, out, in, stride]. */
export function blockConvs(block: CouplingBlock): { key: string; out: number; in: number; stride: 1 | 2 }[] {
  return [
    { key: `${block.prefix}.1`, out: block.hidden, in: block.inChannels, stride: block.stride },
    { key: `${block.prefix}.4`, out: block.hidden, in: block.hidden, stride: 1 },
    { key: `${block.prefix}.7`, out: block.channels, in: block.hidden, stride: 1 },
  ];
}

export interface ParameterSpec {
  name: string;
  shape: number[];
  /** fan_in of the convolution (in · k · k), for initialisation. */
  fanIn: number;
}

/** Every tensor of the published state dict, in `state_dict()` order. */
export function parameterSpecs(layout: RevNetLayout): ParameterSpec[] {
  const k = layout.config.kernel;
  const specs: ParameterSpec[] = [];
  for (const block of [...layout.stack, ...layout.refine]) {
    for (const conv of blockConvs(block)) {
      const fanIn = conv.in * k * k;
      specs.push({ name: `${conv.key}.weight`, shape: [conv.out, conv.in, k, k], fanIn });
      specs.push({ name: `${conv.key}.bias`, shape: [conv.out], fanIn });
    }
  }
  return specs;
}
