import { z } from 'zod';
import { Image } from '../../core/image.js';
import type { Regions } from '../../core/mask.js';
import type { Logger } from '../../core/registry.js';
import { resizeImage } from '../../core/resample.js';

/**
 * Sizes for patch methods: the content is worked on at a capped resolution (memory and time stay
 * bounded whatever the input), the style is resized so its features have a chosen size relative to
 * the content, and a style too thin for any patch is mirror-tiled to the smallest usable side.
 */

/** The `styleScale` parameter every patch method takes, with its own default. */
export function styleScaleParam(defaultScale: number) {
  return z
    .number()
    .min(0.1)
    .max(4)
    .default(defaultScale)
    .describe("Size of the style's features relative to the content: the style is resized to this times the content's long side");
}

/** Smallest side, in pixels, a style must have for patches to be cut from it. */
export const MIN_STYLE_SIDE = 9;

/** Label maps of a region pairing at one working size, with each label's pixel list. */
export interface RegionLabels {
  content: Int32Array;
  contentWidth: number;
  contentHeight: number;
  style: Int32Array;
  styleWidth: number;
  styleHeight: number;
  contentPixels: Map<number, Int32Array>;
  stylePixels: Map<number, Int32Array>;
}

export interface StyleFit {
  content: Image;
  style: Image;
  /** The pipeline's region pairing brought to the working sizes. */
  regions(r: Regions | undefined): RegionLabels | undefined;
  /** Bring a result at the working size back to the original content's size. */
  finish(result: Image, original: Image): Image;
}

export function planesOf(img: Image): Float32Array[] {
  return Array.from({ length: img.channels }, (_, c) => img.plane(c));
}

export function fitStyleScale(content: Image, style: Image, styleScale: number, workSize: number, log: Logger): StyleFit {
  const long = Math.max(content.width, content.height);
  const f = long > workSize ? workSize / long : 1;
  const cw = Math.max(1, Math.round(content.width * f));
  const ch = Math.max(1, Math.round(content.height * f));
  if (f < 1) log.info(`synthesising at ${cw}×${ch}, then upsampling to ${content.width}×${content.height}`);
  const workContent = resizeImage(content, cw, ch);
  const styleLong = Math.max(style.width, style.height);
  const s = (styleScale * Math.max(cw, ch)) / styleLong;
  let sw = Math.max(1, Math.round(style.width * s));
  let sh = Math.max(1, Math.round(style.height * s));
  let workStyle = resizeImage(style, sw, sh);
  if (sw < MIN_STYLE_SIDE || sh < MIN_STYLE_SIDE) {
    // Only the style's own size is worth a warning: a tiny content (1×1) shrinks a fine style too.
    const note = `the style at ${sw}×${sh} px is too thin for patches: it is mirror-tiled to ${MIN_STYLE_SIDE} px`;
    if (style.width < MIN_STYLE_SIDE || style.height < MIN_STYLE_SIDE) log.warn(`the style is ${style.width}×${style.height} px, too thin for patches: it is mirror-tiled to ${MIN_STYLE_SIDE} px`);
    else log.debug(note);
    workStyle = mirrorTile(workStyle, Math.max(sw, MIN_STYLE_SIDE), Math.max(sh, MIN_STYLE_SIDE));
    sw = workStyle.width;
    sh = workStyle.height;
  }
  return {
    content: workContent,
    style: workStyle,
    regions(r) {
      if (!r) return undefined;
      return labelsAt(
        { content: r.content, contentWidth: content.width, contentHeight: content.height, style: r.style, styleWidth: style.width, styleHeight: style.height },
        cw,
        ch,
        sw,
        sh,
      );
    },
    finish(result, original) {
      if (result.sameSize(original)) return result;
      return resizeImage(result, original.width, original.height);
    },
  };
}

/** Repeat an image, mirrored at each copy's edge, until it is width × height. */
export function mirrorTile(img: Image, width: number, height: number): Image {
  const out = new Image(width, height, img.channels);
  const fold = (v: number, n: number) => {
    const period = 2 * n;
    const m = v % period;
    return m < n ? m : period - 1 - m;
  };
  for (let c = 0; c < img.channels; c++) {
    const src = img.plane(c);
    const dst = out.plane(c);
    for (let y = 0; y < height; y++) {
      const sy = fold(y, img.height);
      for (let x = 0; x < width; x++) dst[y * width + x] = src[sy * img.width + fold(x, img.width)];
    }
  }
  return out;
}

type LabelSource = Pick<RegionLabels, 'content' | 'contentWidth' | 'contentHeight' | 'style' | 'styleWidth' | 'styleHeight'>;

function resizeLabels(src: Int32Array, w0: number, h0: number, w: number, h: number): Int32Array {
  if (w === w0 && h === h0) return src;
  const out = new Int32Array(w * h);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(h0 - 1, Math.floor(((y + 0.5) * h0) / h));
    for (let x = 0; x < w; x++) out[y * w + x] = src[sy * w0 + Math.min(w0 - 1, Math.floor(((x + 0.5) * w0) / w))];
  }
  return out;
}

function pixelLists(labels: Int32Array): Map<number, Int32Array> {
  const counts = new Map<number, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  const lists = new Map<number, Int32Array>([...counts].map(([l, n]) => [l, new Int32Array(n)]));
  const fill = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    const k = fill.get(l) ?? 0;
    lists.get(l)![k] = i;
    fill.set(l, k + 1);
  }
  return lists;
}

/** Labels at a working size (content cw × ch, style sw × sh), nearest-neighbour resampled. */
export function labelsAt(s: LabelSource, cw: number, ch: number, sw: number, sh: number): RegionLabels {
  const content = resizeLabels(s.content, s.contentWidth, s.contentHeight, cw, ch);
  const style = resizeLabels(s.style, s.styleWidth, s.styleHeight, sw, sh);
  return {
    content,
    contentWidth: cw,
    contentHeight: ch,
    style,
    styleWidth: sw,
    styleHeight: sh,
    contentPixels: pixelLists(content),
    stylePixels: pixelLists(style),
  };
}
