import type { AnyMethod } from '../core/registry.js';
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
import { gatys } from './neural/gatys.js';
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

/**
 * Every method Atelier ships, as one object literal: `MethodId` and each method's params type are
 * inferred from it, and the CLI, the server and the studio enumerate it. A new method is one file
 * under `methods/<family>/` plus one line here.
 */
export const methods = {
  'color.reinhard': reinhard,
  'color.histogram': histogram,
  'color.mkl': mkl,
  'color.idt': idt,
  'filter.kuwahara': kuwahara,
  'filter.xdog': xdog,
  'filter.toon': toon,
  'filter.oil': oil,
  'filter.watercolor': watercolor,
  'filter.pencil': pencil,
  'paint.strokes': strokes,
  'paint.haeberli': haeberli,
  'patch.synthesis': synthesis,
  'patch.quilting': quilting,
  'patch.analogy': analogy,
  'patch.efros-leung': efrosLeung,
  'neural.gatys': gatys,
  'neural.capvst': capvst,
  'neural.fast': fast,
  'neural.multistyle': multistyle,
  'neural.arbitrary': arbitrary,
  'neural.cartoon': cartoon,
  'neural.anime': anime,
  'neural.wct': wct,
  'neural.adain': adain,
  'neural.microast': microast,
} as const satisfies Record<string, AnyMethod>;

export type MethodId = keyof typeof methods;

/** The method used when none is named (weight-free). */
export const DEFAULT_METHOD: MethodId = 'patch.synthesis';
