import { throwIfAborted } from '../../core/errors.js';
import { Image } from '../../core/image.js';
import { limitSize } from '../../core/resample.js';
import { adainTransform } from '../features/adain.js';
import { MomentAccumulator, applyAffine, featureMoments, type FeatureMap } from '../features/cwct.js';
import { Graph, type ParamHook } from '../graph/graph.js';
import { lowerGraph } from '../graph/lower.js';
import type { OnnxGraph } from '../graph/onnx-model.js';
import { SwitchedRunner, type PartRunner } from '../switched-runner.js';
import { cropToImage, padToMultiple } from './autoencoder-transfer.js';
import { cropPlanar, planTiles, type Rect, type Tile } from './capvst/tiles.js';
import {
  MICROAST_CHANNELS,
  MICROAST_STRIDE,
  microAstEncoder,
  microAstModulatedBlock,
  microAstModulator,
  microAstUpsampler,
  type MicroAstWeights,
} from './microast.js';

/**
 * MicroAST inference on images of any size within a memory bound. The network is run in four
 * compiled pieces, cut where its two AdaIN steps need whole-image statistics: the style encoder
 * with the modulator (the style image, at most `styleSide` on its long side); the content encoder,
 * tile by tile, into one ¼-resolution feature map; AdaIN in float64 over the whole map
 * (engine/features/adain.ts), then the first modulated block tile by tile; AdaIN again, then the
 * second block and the upsampling decoder tile by tile. Tile margins exceed the receptive field of
 * every piece, so the tiled result equals the whole-image one to rounding: no seams.
 *
 * Style strength α: the authors' test script blends each AdaIN output with its input,
 * α·AdaIN(x) + (1 − α)·x, but with the published weights that breaks for any α < 1: the content
 * encoder's features are ~30× smaller than the style encoder's (std 0.08 against 2.3 on the dev
 * pairs) and the second blend feeds the decoder un-normalised features it never saw in training
 * (trained at α = 1 only); at α = 0.8 the output already spans −0.9…7.7 and saturates to a flat
 * colour (checked with the PyTorch reference). Atelier uses identity interpolation instead (as
 * Ghiasi et al. do for their style vectors): the content is also encoded as a style, and both
 * AdaIN targets (means and deviations) and the modulator's filter weights and biases are
 * interpolated, α·style + (1 − α)·content's own. α = 1 is the published network exactly; α = 0
 * restyles the content after itself, close to the content.
 */

export interface MicroAstOptions {
  alpha: number;
  maxTilePixels: number;
  /** Long side the style image is brought down to (its statistics and modulation are global). */
  styleSide: number;
  signal?: AbortSignal;
  tick?: () => void;
}

/** Context around each tile's core, in image pixels: the encoder's receptive field is ~30 px. */
const MARGIN = 48;
const S = MICROAST_STRIDE;
const C = MICROAST_CHANNELS;

interface StyleCode {
  s1: FeatureMap;
  s2: FeatureMap;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

function featureRect(r: Rect): Rect {
  return { x0: r.x0 / S, y0: r.y0 / S, x1: r.x1 / S, y1: r.y1 / S };
}

function featureTile(t: Tile): Tile {
  return { core: featureRect(t.core), ext: featureRect(t.ext) };
}

type Piece = 'style' | 'encoder' | 'block1' | 'block2';

/**
 * The four pieces run in ONE session (`engine/switched-runner.ts`), opened at the first run and kept
 * until `release()`: its one ORT arena serves each piece in turn and is reused by the next run
 * (without an arena every megapixel activation is a fresh mapping the kernel faults in and zeroes
 * on each run, about 2× slower). Before, each piece opened a session of its own for its stage of
 * one run and released it (four arenas kept at once had broken the memory bound): opening,
 * releasing and faulting in a fresh arena cost ~10 % of a 512² run.
 */
export class MicroAstStylizer {
  private session?: Promise<SwitchedRunner>;

  private constructor(
    private readonly models: Record<Piece, OnnxGraph>,
    private readonly threads: number,
  ) {}

  /** Run `use` on a piece of the session. */
  private async withSession<T>(piece: Piece, use: (runner: PartRunner) => Promise<T>): Promise<T> {
    if (!this.session) {
      const pending = SwitchedRunner.compile(
        (Object.keys(this.models) as Piece[]).map((name) => ({ name, graph: this.models[name] })),
        { threads: this.threads, memory: 'arena', blockedPads: true },
      );
      pending.catch(() => (this.session = undefined));
      this.session = pending;
    }
    return use((await this.session).part(piece));
  }

  /** `paramHook` is set on every piece's graph before its weights are declared (LoRA adapters at run time). */
  static async create(weights: MicroAstWeights, threads: number, paramHook?: ParamHook): Promise<MicroAstStylizer> {
    const graph = () => {
      const g = new Graph();
      if (paramHook) g.paramHook = paramHook;
      return g;
    };
    const gs = graph();
    const { f1: s1, f2: s2 } = microAstEncoder(gs, gs.input('image', [1, 3, 'H', 'W']), weights.styleEncoder, 'styleEncoder');
    const m = microAstModulator(gs, s1, s2, weights.modulator);
    gs.output('s1', s1);
    gs.output('s2', s2);
    for (const [k, t] of Object.entries(m)) gs.output(k, t);
    const ge = graph();
    ge.output('features', microAstEncoder(ge, ge.input('image', [1, 3, 'H', 'W']), weights.contentEncoder, 'contentEncoder').f2);
    const block = (withUpsampler: boolean) => {
      const g = graph();
      const x = g.input('features', [1, C, 'h', 'w']);
      const y = microAstModulatedBlock(g, x, weights.decoder, withUpsampler ? 'dec2' : 'dec1', g.input('w', [1, C, 1, 1]), g.input('b', [1, C, 1, 1]));
      g.output('out', withUpsampler ? microAstUpsampler(g, y, weights.decoder) : y);
      return g;
    };
    const lower = (g: Graph) => lowerGraph(g, { outputShapes: true }).onnx;
    return new MicroAstStylizer({ style: lower(gs), encoder: lower(ge), block1: lower(block(false)), block2: lower(block(true)) }, threads);
  }

  /** How many steps `stylize` reports through `tick`. */
  static steps(content: Image, maxTilePixels: number): number {
    const w = Math.ceil(content.width / S) * S;
    const h = Math.ceil(content.height / S) * S;
    return 1 + 3 * planTiles(w, h, maxTilePixels, MARGIN, S).tiles.length;
  }

  private async encodeStyle(runner: PartRunner, style: Image, side: number): Promise<StyleCode> {
    const img = padToMultiple(limitSize(style, side), S);
    const out = await runner.run({ image: { data: img.data, shape: [1, 3, img.height, img.width] } });
    const pixels = (img.width / S) * (img.height / S);
    const f = (k: string): FeatureMap => ({ channels: C, pixels, data: out[k]!.data as Float32Array });
    const v = (k: string) => out[k]!.data as Float32Array;
    return { s1: f('s1'), s2: f('s2'), w1: v('w1'), b1: v('b1'), w2: v('w2'), b2: v('b2') };
  }

  async stylize(content: Image, style: Image, o: MicroAstOptions): Promise<Image> {
    const check = () => o.signal && throwIfAborted(o.signal);
    const [code, own] = await this.withSession('style', async (runner) => [
      await this.encodeStyle(runner, style, o.styleSide),
      // α < 1: identity interpolation (see the class comment) with the content's own style code.
      o.alpha < 1 ? await this.encodeStyle(runner, content, o.styleSide) : undefined,
    ] as const);
    o.tick?.();
    const mixed = (a: Float32Array, b: Float32Array | undefined) => (b ? a.map((v, i) => o.alpha * v + (1 - o.alpha) * b[i]!) : a);
    // AdaIN reads only each channel's variance: no covariances (featureMoments' `covariance` false).
    const targets = (f: 's1' | 's2') => [{ moments: featureMoments(code[f], undefined, false), weight: o.alpha }, ...(own ? [{ moments: featureMoments(own[f], undefined, false), weight: 1 - o.alpha }] : [])].filter((t) => t.weight > 0);
    const [w1, b1, w2, b2] = (['w1', 'b1', 'w2', 'b2'] as const).map((k) => mixed(code[k], own?.[k]));
    const c = padToMultiple(content, S);
    const plan = planTiles(c.width, c.height, o.maxTilePixels, MARGIN, S);
    const fw = c.width / S;
    const fh = c.height / S;

    // Content features, tile by tile, into one map (the cores partition it).
    const features = new Float32Array(C * fw * fh);
    await this.withSession('encoder', async (encoder) => {
      for (const tile of plan.tiles) {
        check();
        const { ext } = tile;
        const data = plan.tiles.length === 1 ? c.data : cropPlanar(c.data, 3, c.width, c.height, ext);
        const out = await encoder.run({ image: { data, shape: [1, 3, ext.y1 - ext.y0, ext.x1 - ext.x0] } });
        pasteCore(out.features!.data as Float32Array, featureTile(tile), features, fw, fh, C);
        o.tick?.();
      }
    });
    const map: FeatureMap = { channels: C, pixels: fw * fh, data: features };
    applyAffine(map, adainTransform(featureMoments(map, undefined, false), targets('s2'), 1), features);

    // First modulated block (style enc2 signals), then AdaIN to the style's enc1 statistics.
    const x2 = new Float32Array(C * fw * fh);
    const moments = new MomentAccumulator(C, false);
    await this.withSession('block1', async (block1) => {
      for (const tile of plan.tiles) {
        check();
        const ft = featureTile(tile);
        const out = await this.runBlock(block1, features, fw, fh, ft.ext, w2!, b2!);
        pasteCore(out, ft, x2, fw, fh, C);
        o.tick?.();
      }
    });
    moments.add({ channels: C, pixels: fw * fh, data: x2 });
    const x2map: FeatureMap = { channels: C, pixels: fw * fh, data: x2 };
    applyAffine(x2map, adainTransform(moments.moments(), targets('s1'), 1), x2);

    // Second block and the upsampling decoder. The margins cover every stage's receptive field, so
    // each tile's core is exact and the cores are pasted (a cross-fade would mix in the margins'
    // edge pixels, which saw reflection padding instead of their neighbours).
    const image = new Float32Array(3 * c.width * c.height);
    await this.withSession('block2', async (block2) => {
      for (const tile of plan.tiles) {
        check();
        pasteCore(await this.runBlock(block2, x2, fw, fh, featureRect(tile.ext), w1!, b1!), tile, image, c.width, c.height, 3);
        o.tick?.();
      }
    });
    return cropToImage(image, c, content.width, content.height);
  }

  private async runBlock(runner: PartRunner, map: Float32Array, fw: number, fh: number, r: Rect, w: Float32Array, b: Float32Array): Promise<Float32Array> {
    const whole = r.x0 === 0 && r.y0 === 0 && r.x1 === fw && r.y1 === fh;
    const data = whole ? map : cropPlanar(map, C, fw, fh, r);
    const out = await runner.run({
      features: { data, shape: [1, C, r.y1 - r.y0, r.x1 - r.x0] },
      w: { data: w, shape: [1, C, 1, 1] },
      b: { data: b, shape: [1, C, 1, 1] },
    });
    return out.out!.data as Float32Array;
  }

  /** Free the session (and its arena); a later run opens it again. */
  async release(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await session?.then((s) => s.release()).catch(() => {});
  }
}

/** Copy a tile's core (feature coordinates) from its output over the extended rect into the full map. */
function pasteCore(out: Float32Array, t: Tile, full: Float32Array, fw: number, fh: number, channels: number): void {
  const ew = t.ext.x1 - t.ext.x0;
  const eh = t.ext.y1 - t.ext.y0;
  const cw = t.core.x1 - t.core.x0;
  for (let ch = 0; ch < channels; ch++) {
    for (let y = t.core.y0; y < t.core.y1; y++) {
      const src = (ch * eh + y - t.ext.y0) * ew + (t.core.x0 - t.ext.x0);
      full.set(out.subarray(src, src + cw), (ch * fh + y) * fw + t.core.x0);
    }
  }
}
