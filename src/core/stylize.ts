import { availableParallelism } from 'node:os';
import { labToRgb, rgbToLab } from './color.js';
import { AtelierError, throwIfAborted, wrapError } from './errors.js';
import { Image, blendImages, clampFinite, clampImage } from './image.js';
import { imageDimensions, readImage, type ImageSource } from './io.js';
import { checkMemoryBudget, defaultMemoryBudget } from './memory-budget.js';
import { fitMask, maskWeights, matchRegions, type Regions } from './mask.js';
import { checkParamRules, kebabCase, parseParams, sharedControlsSchema, type SharedControls } from './params.js';
import { ProgressReporter, type Progress, type ProgressListener } from './progress.js';
import type { AnyMethod, Logger, MethodInputs, MethodOutput, PreviousFrame, RunContext } from './registry.js';
import { resizeImage, limitSize } from './resample.js';
import { Rng } from './rng.js';
import { VERSION } from './version.js';

/**
 * The one pipeline every method runs through: validate → read → preprocess (max size, masks) →
 * run → postprocess (preserve colour, mask, strength, alpha). Shared controls live here, once.
 */

export type ImageInput = Image | ImageSource;

export interface StylizeInputs {
  content: ImageInput;
  /** One style image, or several to blend (weights in `styleWeights`, default equal). */
  style?: ImageInput | ImageInput[];
  styleWeights?: number[];
  /** Greyscale weights where to apply, or a colour label map when `styleMask` is given too. */
  mask?: ImageInput;
  /** Colour label map of the style, paired with `mask` by colour. */
  styleMask?: ImageInput;
  extra?: Record<string, ImageInput>;
  /** In a video: the previous result warped onto this frame (see MethodInputs.previous). */
  previous?: PreviousFrame;
}

export interface StylizeOptions {
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  threads?: number;
  log?: Logger;
  /** Pixel limit for decoding inputs (default 100 MP or ATELIER_MAX_PIXELS). */
  maxPixels?: number;
  /** Bytes the run may use; a run estimated above it is refused before decoding (default: memory-budget.ts). */
  maxMemoryBytes?: number;
  /** Report parameter names as CLI flags (`--max-size`) in errors. */
  flagStyle?: boolean;
}

export interface StylizeResult {
  image: Image;
  /** Every parameter as resolved (defaults filled in), seed included: enough to reproduce the run. */
  params: Record<string, unknown> & SharedControls;
  timings: { readMs: number; preprocessMs: number; runMs: number; postprocessMs: number; totalMs: number };
  meta: Record<string, unknown> & { method: string; version: string; seed: number; width: number; height: number };
  svg?: string;
}

const silentLogger: Logger = { debug() {}, info() {}, warn() {} };

/** The full params schema of a method: its own merged over the shared controls. */
export function methodParamsSchema(def: AnyMethod) {
  return sharedControlsSchema.extend(def.params.shape);
}

/** Refuse, from the inputs' headers, a run that would need more memory than allowed. */
async function checkRunMemory(def: AnyMethod, inputs: StylizeInputs, styles: ImageInput[], params: Record<string, unknown> & SharedControls, options: StylizeOptions): Promise<void> {
  const size = async (input: ImageInput) => (input instanceof Image ? { width: input.width, height: input.height } : imageDimensions(input));
  const content = await size(inputs.content);
  if (!content) return;
  const known = <T,>(xs: (T | undefined)[]) => xs.filter((x): x is T => x !== undefined);
  const others = [inputs.mask, inputs.styleMask, ...Object.values(inputs.extra ?? {})].filter((x): x is ImageInput => x !== undefined);
  checkMemoryBudget(
    def,
    { content, styles: known(await Promise.all(styles.map(size))), others: known(await Promise.all(others.map(size))), decoded: !(inputs.content instanceof Image) },
    params.maxSize,
    options.maxMemoryBytes ?? defaultMemoryBudget(),
    options.flagStyle ?? false,
    params,
  );
}

/**
 * Images more than twice the working size are shrunk while they decode (never held whole); the
 * last step to the working size stays ours (limitSize), so images near the working size give the
 * same result as before. Masks are never shrunk here: labels must not blend.
 */
async function toImage(input: ImageInput, name: string, maxPixels: number | undefined, mode: 'rgb' | 'grey' = 'rgb', maxSize?: number): Promise<Image> {
  if (input instanceof Image) return input;
  return readImage(input, { name, ...(maxPixels !== undefined && { maxPixels }), mode, ...(maxSize !== undefined && { shrinkFor: maxSize }) });
}

export async function runMethod(
  def: AnyMethod,
  inputs: StylizeInputs,
  rawParams: Record<string, unknown> = {},
  options: StylizeOptions = {},
): Promise<StylizeResult> {
  const t0 = performance.now();
  const params = parseParams(methodParamsSchema(def), rawParams, {
    methodId: def.id,
    flagStyle: options.flagStyle ?? false,
  }) as Record<string, unknown> & SharedControls;
  checkParamRules(def.params, params, def.id);
  if (params.maxSize === undefined && def.defaultMaxSize !== undefined) params.maxSize = def.defaultMaxSize;
  const log = options.log ?? silentLogger;
  const signal = options.signal ?? new AbortController().signal;
  const reporter = new ProgressReporter(options.onProgress ?? (() => {}), def.id);
  const controls = { strength: true, preserveColor: true, mask: true, ...def.controls };

  const styleList = inputs.style === undefined ? [] : Array.isArray(inputs.style) ? inputs.style : [inputs.style];
  if (def.inputs.style === 'required' && styleList.length === 0) {
    throw new AtelierError('E_INPUT_MISSING', `${def.id} needs a style image`, {
      hint: `give one: atelier transfer content.jpg style.jpg --method ${def.id}`,
    });
  }
  if (def.inputs.style === 'none' && styleList.length > 0) log.warn(`${def.id} takes no style image; the one given is ignored`);
  if (styleList.length > 1 && !def.inputs.multiStyle) {
    throw new AtelierError('E_PARAM', `${def.id} takes one style image`, { received: `${styleList.length} style images` });
  }
  for (const [name, spec] of Object.entries(def.inputs.extra ?? {})) {
    if (spec.required && !inputs.extra?.[name]) {
      // On the command line the input is a flag (`--source-a`), over HTTP a form field (`sourceA`).
      const named = options.flagStyle ? `--${kebabCase(name)} <file>` : name;
      throw new AtelierError('E_INPUT_MISSING', `${def.id} needs the input ${named}`, { expected: spec.description });
    }
  }
  if (inputs.styleMask !== undefined && inputs.mask === undefined) {
    throw new AtelierError('E_INPUT_MISSING', 'A style mask was given without a content mask', {
      hint: 'give --mask (the content label map) together with --style-mask',
    });
  }

  const usedStyles = def.inputs.style === 'none' ? [] : styleList;
  await checkRunMemory(def, inputs, usedStyles, params, options);

  reporter.start();
  try {
    // Read everything at once; sharp decodes on its own threads.
    const [content0, styles0, mask0, styleMask0, extra0] = await Promise.all([
      toImage(inputs.content, 'content image', options.maxPixels, 'rgb', params.maxSize),
      Promise.all(usedStyles.map((s, i) => toImage(s, usedStyles.length > 1 ? `style image ${i + 1}` : 'style image', options.maxPixels, 'rgb', params.maxSize))),
      inputs.mask === undefined ? undefined : toImage(inputs.mask, 'mask', options.maxPixels),
      inputs.styleMask === undefined ? undefined : toImage(inputs.styleMask, 'style mask', options.maxPixels),
      Promise.all(
        Object.entries(inputs.extra ?? {}).map(async ([k, v]) => [k, await toImage(v, k, options.maxPixels, 'rgb', params.maxSize)] as const),
      ),
    ]);
    const t1 = performance.now();
    throwIfAborted(signal);

    // Preprocess: working sizes and masks.
    const content = limitSize(content0, params.maxSize);
    const styles = styles0.map((s) => limitSize(s, params.maxSize));
    const weights = normaliseStyleWeights(inputs.styleWeights, styles.length);
    const extra = Object.fromEntries(extra0.map(([k, v]) => [k, limitSize(v, params.maxSize)]));
    let regions: Regions | undefined;
    let maskPlane: Float32Array | undefined;
    if (mask0 && !controls.mask) log.warn(`${def.id} does not use masks; the mask is ignored`);
    if (mask0 && controls.mask) {
      if (styleMask0) {
        if (styles.length === 0) throw new AtelierError('E_INPUT_MISSING', 'A style mask needs a style image');
        regions = matchRegions(
          fitMask(mask0, content, 'labels', 'mask'),
          fitMask(styleMask0, styles[0]!, 'labels', 'style mask'),
        );
      } else {
        maskPlane = maskWeights(fitMask(mask0, content, 'weights', 'mask'));
      }
    }
    const t2 = performance.now();

    const methodInputs: MethodInputs = {
      content,
      ...(styles[0] && { style: styles[0] }),
      ...(styles.length > 0 && { styles: styles.map((image, i) => ({ image, weight: weights[i]! })) }),
      extra,
      ...(inputs.previous && { previous: fitPrevious(inputs.previous, content) }),
    };
    const ctxFor = (progress: Progress): RunContext => ({
      rng: new Rng(params.seed),
      seed: params.seed,
      progress,
      signal,
      log,
      threads: options.threads ?? Math.max(1, availableParallelism()),
      controls: params,
    });

    let output: MethodOutput;
    if (regions && def.regions !== 'native') {
      output = await runPerRegion(def, methodInputs, params, regions, ctxFor(reporter));
    } else {
      output = normaliseOutput(await callMethod(def, ctxFor(reporter), regions ? { ...methodInputs, regions } : methodInputs, params));
    }
    // Methods compute in synchronous loops, so a signal (Ctrl-C, a cancel) may still be queued
    // behind them: let the event loop poll once before deciding the run was not cancelled.
    await afterNextPoll();
    throwIfAborted(signal);
    const t3 = performance.now();

    // Postprocess: the shared controls, in a fixed documented order.
    // Samples are already clamped to [0, 1] (callMethod); each control below keeps them there.
    let image = output.image;
    const aligned = image.sameSize(content);
    if (!aligned && (params.preserveColor || maskPlane || params.strength < 1)) {
      log.warn(`${def.id} returned ${image.width}×${image.height}, not the content's size: strength, mask and colour controls skipped`);
    }
    if (aligned) {
      const base = content.channels === image.channels ? content : undefined;
      if (params.preserveColor && controls.preserveColor && image.channels === 3) image = transferLightness(image, content);
      if (base && controls.strength && params.strength < 1) image = blendImages(base, image, params.strength);
      if (base && maskPlane) image = blendImages(base, image, maskPlane);
      if (content.alpha) image.alpha = content.alpha;
    }
    const t4 = performance.now();
    reporter.done();
    const result: StylizeResult = {
      image,
      params,
      timings: {
        readMs: t1 - t0,
        preprocessMs: t2 - t1,
        runMs: t3 - t2,
        postprocessMs: t4 - t3,
        totalMs: t4 - t0,
      },
      meta: {
        method: def.id,
        version: VERSION,
        seed: params.seed,
        width: image.width,
        height: image.height,
        ...(regions && { regions: regions.count }),
        ...output.meta,
      },
    };
    // Read the method's SVG only if the caller does (it may be built on demand).
    if ('svg' in output) Object.defineProperty(result, 'svg', { get: () => output.svg, enumerable: true, configurable: true });
    return result;
  } catch (e) {
    const err = wrapError(e, 'E_INTERNAL', `${def.id} failed`);
    reporter.error(err.code, err.message);
    throw err;
  }
}

/**
 * Resolves after the event loop has been through one poll phase (where signals and I/O events are
 * taken in). One setImmediate is not enough: when the run ended inside a poll-phase callback, its
 * check phase comes before the next poll, so the second hop is what lets a queued SIGINT through.
 */
function afterNextPoll(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

/** The previous frame's hint at the working size of the content (it was made at the frame's size). */
function fitPrevious(previous: PreviousFrame, content: Image): PreviousFrame {
  if (previous.image.sameSize(content)) return previous;
  const valid = resizeImage(new Image(previous.image.width, previous.image.height, 1, previous.valid), content.width, content.height).data;
  return { image: resizeImage(previous.image, content.width, content.height), valid };
}

function normaliseStyleWeights(given: number[] | undefined, count: number): number[] {
  if (count === 0) return [];
  const w = given ?? Array.from({ length: count }, () => 1);
  if (w.length !== count || w.some((v) => !Number.isFinite(v) || v < 0) || w.every((v) => v === 0)) {
    throw new AtelierError('E_PARAM', 'Invalid style weights', {
      expected: `${count} non-negative numbers, not all zero`,
      received: JSON.stringify(w),
    });
  }
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / sum);
}

function normaliseOutput(out: Image | MethodOutput): MethodOutput {
  return out instanceof Image ? { image: out } : out;
}

async function callMethod(def: AnyMethod, ctx: RunContext, inputs: MethodInputs, params: Record<string, unknown>): Promise<Image | MethodOutput> {
  throwIfAborted(ctx.signal);
  const out = await def.run(ctx, inputs, params);
  const image = out instanceof Image ? out : out?.image;
  if (!(image instanceof Image)) {
    throw new AtelierError('E_INTERNAL', `${def.id} returned no image`);
  }
  // One pass: clamp into [0, 1] and refuse NaN/Infinity (never written as if it were black).
  if (!clampFinite(image)) {
    throw new AtelierError('E_NUMERIC', `${def.id} produced non-finite pixel values`, {
      hint: 'try other parameters or report the inputs that caused it',
    });
  }
  return out;
}

/**
 * Region-to-region transfer for methods that know nothing of regions: run once per matched label
 * with the style cropped to that label's bounding box, plus once with the whole style for content
 * regions that have no match, and composite by the content's labels.
 */
async function runPerRegion(
  def: AnyMethod,
  inputs: MethodInputs,
  params: Record<string, unknown>,
  regions: Regions,
  ctx: RunContext,
): Promise<MethodOutput> {
  const style = inputs.style!;
  const present = new Set<number>();
  for (let i = 0; i < regions.content.length; i++) present.add(regions.content[i]!);
  const labels = [...present].sort((a, b) => a - b);
  const composite = inputs.content.clone();
  const n = composite.pixels;
  const metas: Record<string, unknown>[] = [];
  for (let k = 0; k < labels.length; k++) {
    const label = labels[k]!;
    const styleForLabel = label < 0 ? style : cropToLabel(style, regions.style, label);
    const sub = ctx.progress.sub(k / labels.length, (k + 1) / labels.length);
    const out = normaliseOutput(
      await callMethod(def, { ...ctx, progress: sub, rng: ctx.rng.fork() }, { ...inputs, style: styleForLabel, styles: [{ image: styleForLabel, weight: 1 }] }, params),
    );
    if (out.meta) metas.push(out.meta);
    const img = out.image.sameSize(composite) ? out.image : resizeImage(out.image, composite.width, composite.height);
    for (let c = 0; c < Math.min(composite.channels, img.channels); c++) {
      const dst = composite.plane(c);
      const src = img.plane(c);
      for (let i = 0; i < n; i++) if (regions.content[i] === label) dst[i] = src[i]!;
    }
  }
  return { image: composite, meta: metas.length > 0 ? { perRegion: metas } : {} };
}

function cropToLabel(img: Image, labels: Int32Array, label: number): Image {
  let x0 = img.width;
  let y0 = img.height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (labels[y * img.width + x] !== label) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return x1 < 0 ? img : img.crop(x0, y0, x1 - x0 + 1, y1 - y0 + 1);
}

/** Keep the content's chrominance and take the result's lightness (Lab L). */
export function transferLightness(result: Image, content: Image): Image {
  const out = rgbToLab(result);
  const c = rgbToLab(content);
  out.plane(1).set(c.plane(1));
  out.plane(2).set(c.plane(2));
  return clampImage(labToRgb(out));
}
