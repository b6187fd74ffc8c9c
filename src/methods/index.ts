import type { z } from 'zod';
import { AtelierError } from '../core/errors.js';
import { nearest } from '../core/params.js';
import type { AnyMethod } from '../core/registry.js';
import { runMethod, type StylizeInputs, type StylizeOptions, type StylizeResult } from '../core/stylize.js';
import { histogram } from './color/histogram.js';
import { idt } from './color/idt.js';
import { mkl } from './color/mkl.js';
import { reinhard } from './color/reinhard.js';
import { analogy } from './patch/analogy.js';
import { efrosLeung } from './patch/efros-leung.js';
import { quilting } from './patch/quilting.js';
import { synthesis } from './patch/synthesis.js';
import { anime } from './neural/anime.js';
import { arbitrary } from './neural/arbitrary.js';
import { capvst } from './neural/capvst.js';
import { fast } from './neural/fast.js';
import { cartoon } from './neural/cartoon.js';
import { cyclegan } from './neural/cyclegan.js';
import { stargan } from './neural/stargan.js';
import { gatys } from './neural/gatys.js';
import { clipstyler } from './neural/clipstyler.js';
import { multistyle } from './neural/multistyle.js';
import { wct } from './neural/wct.js';
import { adain } from './neural/adain.js';
import { microast } from './neural/microast.js';
import { kuwahara } from './filter/kuwahara.js';
import { oil } from './filter/oil.js';
import { pencil } from './filter/pencil.js';
import { toon } from './filter/toon.js';
import { watercolor } from './filter/watercolor.js';
import { xdog } from './filter/xdog.js';
import { haeberli } from './paint/haeberli.js';
import { strokes } from './paint/strokes.js';
import { img2img } from './diffusion/img2img.js';

/**
 * Every method Atelier ships, in listing order. The registry, `MethodId` and each method's params
 * type are derived from this list by each definition's own `id`, so a key cannot disagree with
 * its method. The CLI, the server and the studio enumerate it. A new method is one file under
 * `methods/<family>/` plus one line here.
 */
const registered = [
  reinhard,
  histogram,
  mkl,
  idt,
  kuwahara,
  xdog,
  toon,
  oil,
  watercolor,
  pencil,
  strokes,
  haeberli,
  synthesis,
  quilting,
  analogy,
  efrosLeung,
  gatys,
  clipstyler,
  capvst,
  fast,
  multistyle,
  arbitrary,
  cartoon,
  anime,
  cyclegan,
  stargan,
  wct,
  adain,
  microast,
  img2img,
] as const satisfies readonly AnyMethod[];

type Registered = (typeof registered)[number];

/** The registry: each method under its own id. */
export type MethodRegistry = { readonly [M in Registered as M['id']]: M };

export const methods = registryOf(registered) as MethodRegistry;

export type MethodId = keyof MethodRegistry;

/** The method used when none is named (weight-free). */
export const DEFAULT_METHOD: MethodId = 'patch.synthesis';

function registryOf(list: readonly AnyMethod[]): Record<string, AnyMethod> {
  const out: Record<string, AnyMethod> = {};
  for (const def of list) {
    if (out[def.id]) throw new AtelierError('E_INTERNAL', `Two methods are registered under ${def.id}`, { hint: 'give each method its own id' });
    out[def.id] = def;
  }
  return out;
}

/** The params a method accepts (its own plus the shared controls), as the caller writes them. */
export type ParamsOf<Id extends MethodId> = z.input<MethodRegistry[Id]['params']> & {
  strength?: number;
  preserveColor?: boolean;
  maxSize?: number;
  seed?: number;
};

/** Look a method up by id; an unknown id fails with the nearest known one suggested. */
export function getMethod(id: string): AnyMethod {
  const def = (methods as Record<string, AnyMethod>)[id];
  if (def) return def;
  const ids = Object.keys(methods);
  const near = nearest(id, ids) ?? ids.find((k) => k.endsWith('.' + id) || k.startsWith(id));
  throw new AtelierError('E_METHOD_UNKNOWN', `Unknown method ${JSON.stringify(id)}`, {
    expected: 'a method id such as ' + ids.slice(0, 3).join(', '),
    received: JSON.stringify(id),
    hint: near ? `did you mean ${near}? (\`atelier methods\` lists them all)` : 'run `atelier methods` to list them',
  });
}

/** All methods, in registry order. */
export function listMethods(): AnyMethod[] {
  return Object.values(methods);
}

/**
 * Run a method by id: look it up, then validate, read, preprocess, run, postprocess
 * (`runMethod` in core/stylize.ts, which callers that already hold a definition use directly).
 * With a literal id the params are typed: a misspelled or mistyped param is a compile error;
 * with an id only known at run time they are validated at run time.
 */
export function stylize<Id extends string>(
  id: Id,
  inputs: StylizeInputs,
  params?: Id extends MethodId ? ParamsOf<Id> : Record<string, unknown>,
  options?: StylizeOptions,
): Promise<StylizeResult>;
export function stylize(id: string, inputs: StylizeInputs, params: Record<string, unknown> = {}, options: StylizeOptions = {}) {
  return runMethod(getMethod(id), inputs, params, options);
}
