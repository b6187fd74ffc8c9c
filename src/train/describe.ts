import { paramsJsonSchema, type JsonObjectSchema } from '../core/params.js';
import type { AnyTrainer, TrainerImages } from './definition.js';

/**
 * A training recipe as the server's `GET /api/trainers` and the studio's trainer page see it: its
 * params as JSON Schema (from its zod schema, with the studio's starting values as defaults), the
 * params that take uploaded images (left out of the form: they are drop zones), the base-model
 * param and the loop's own settings. The page renders its form from this alone, so a recipe that
 * declares `studio` needs no studio change.
 */
export interface TrainerDescription {
  id: string;
  title: string;
  summary: string;
  reference?: string;
  /** The recipe's own params, without the image params. */
  params: JsonObjectSchema;
  images: Record<string, TrainerImages>;
  /**
   * The starting-network param and its choices (fixed words; the server adds the installed models
   * it can start from). `none`: the label of leaving it unset, offered first; `sets`: the params a
   * chosen base fixes, which the form then leaves out.
   */
  base?: { param: string; choices: string[]; none?: string; sets?: string[] };
  /** Params the form shows first; the rest fold under Advanced. */
  basic: string[];
  /** The loop's settings and their starting values. */
  loop: { iterations: number; saveEvery: number; previewEvery: number; seed: number };
}

/** The most iterations a server job may ask for, and the default preview and checkpoint spacing. */
export const MAX_JOB_ITERATIONS = 1_000_000;

/**
 * Params a server job sets itself, never shown in the form: the result's name is the job's model
 * name, and a job never replaces a model.
 */
export const JOB_OWNED_PARAMS = new Set(['name', 'force']);

/** The params the studio's form leaves out: image folders, what the folders make, and the job's own. */
export function paramsNotInForm(def: AnyTrainer): Set<string> {
  return new Set([...Object.keys(def.studio?.images ?? {}), ...(def.studio?.folders?.fills ?? []), ...JOB_OWNED_PARAMS]);
}

export function describeTrainer(def: AnyTrainer): TrainerDescription {
  const studio = def.studio ?? {};
  const images = Object.fromEntries(Object.entries(studio.images ?? {}).filter((e): e is [string, TrainerImages] => e[1] !== undefined));
  const json = paramsJsonSchema(def.params);
  const hidden = paramsNotInForm(def);
  const properties = Object.fromEntries(
    Object.entries(json.properties)
      .filter(([k]) => !hidden.has(k))
      .map(([k, p]) => [k, studio.defaults && k in studio.defaults ? { ...p, default: studio.defaults[k] } : p]),
  );
  const iterations = studio.iterations ?? 100;
  const every = Math.max(1, Math.round(iterations / 10));
  return {
    id: def.id,
    title: def.title,
    summary: def.summary,
    ...(def.reference !== undefined && { reference: def.reference }),
    params: { ...json, properties, ...(json.required && { required: json.required.filter((k) => !hidden.has(k)) }) },
    images,
    ...(studio.base && {
      base: { param: studio.base.param, choices: [...studio.base.choices], ...(studio.base.none !== undefined && { none: studio.base.none }), ...(studio.base.sets && { sets: [...studio.base.sets] }) },
    }),
    basic: [...(studio.basic ?? [])].filter((k) => k in properties),
    loop: { iterations, saveEvery: every, previewEvery: every, seed: 1 },
  };
}
