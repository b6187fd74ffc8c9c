import { paramsJsonSchema, type JsonObjectSchema, SHARED_CONTROL_KEYS } from './params.js';
import { FAMILIES, type AnyMethod, type InputsSpec, type StyleGallery, type StyleGalleryItem, type TrainedModelParam, type WeightsSpec } from './registry.js';
import { methodParamsSchema } from './stylize.js';

/**
 * The JSON description of a method that `atelier methods --json`, `GET /api/methods` and the
 * studio's generated forms share. `params` is the JSON Schema of the method's own parameters
 * merged with the shared controls; `sharedControls` names which of those are shared.
 */
export interface MethodDescription {
  id: string;
  family: string;
  familyTitle: string;
  title: string;
  summary: string;
  reference?: string;
  inputs: InputsSpec;
  params: JsonObjectSchema;
  sharedControls: string[];
  regions: 'native' | 'pipeline';
  /**
   * `trained`: a model made on this server (listed by the server, not by the method), with the
   * params it was made for (`params`: a LoRA's base) and the values it allows of others (`choices`).
   */
  weights: (WeightsSpec & { installed?: boolean; trained?: boolean; params?: Record<string, unknown>; choices?: Record<string, string[]> })[];
  /** Params that name models made here (see `TrainedModelParam`). */
  trainedModels?: Record<string, TrainedModelParam>;
  /** Params a form folds under Advanced. */
  advanced: string[];
  /** Named partial params to start from. */
  presets: { name: string; params: Record<string, unknown> }[];
  /** `installed` on the items that are models of their own (when the describer knows). */
  styleGallery?: Omit<StyleGallery, 'items'> & { items: (StyleGalleryItem & { installed?: boolean })[] };
}

/**
 * Where a param's description turns to what only the command line takes (a file or folder path):
 * the HTTP API refuses paths (server/refuse-paths.ts), so its descriptions, which the studio shows
 * as help, end before it. Write it as the description's last sentence.
 */
export const CLI_ONLY = 'On the command line';

/** A description as the API gives it: without its command-line-only ending. */
export function apiDescription(text: string): string {
  const at = text.indexOf(CLI_ONLY);
  return at < 0 ? text : text.slice(0, at).trimEnd();
}

/** A params schema with each description as the API gives it. */
export function forApi(params: JsonObjectSchema): JsonObjectSchema {
  const properties = Object.fromEntries(Object.entries(params.properties).map(([k, p]) => [k, p.description === undefined ? p : { ...p, description: apiDescription(p.description) }]));
  return { ...params, properties };
}

/** Shared controls few people change: folded under Advanced for every method. */
const ADVANCED_SHARED = ['seed', 'maxSize'];

/** `audience: 'api'`: descriptions without what only the command line takes (`CLI_ONLY`). */
export function describeMethod(def: AnyMethod, isInstalled?: (model: string) => boolean, audience: 'cli' | 'api' = 'cli'): MethodDescription {
  const schema = paramsJsonSchema(methodParamsSchema(def));
  const params = audience === 'api' ? forApi(schema) : schema;
  const maxSize = params.properties.maxSize;
  if (def.defaultMaxSize !== undefined && maxSize) {
    params.properties.maxSize = { ...maxSize, default: def.defaultMaxSize, description: `Largest side of the working image in pixels (default ${def.defaultMaxSize} for this method)` };
  }
  return {
    id: def.id,
    family: def.family,
    familyTitle: FAMILIES[def.family],
    title: def.title,
    summary: def.summary,
    ...(def.reference !== undefined && { reference: def.reference }),
    inputs: def.inputs,
    params,
    sharedControls: SHARED_CONTROL_KEYS.filter((k) => !(k in def.params.shape)),
    regions: def.regions ?? 'pipeline',
    weights: (def.weights ?? []).map((w) => ({ ...w, ...(isInstalled && { installed: isInstalled(w.model) }) })),
    advanced: [...(def.advanced ?? []), ...ADVANCED_SHARED].filter((k) => k in params.properties),
    presets: Object.entries(def.presets ?? {}).map(([name, p]) => ({ name, params: { ...p } })),
    ...(def.trainedModels && { trainedModels: { ...def.trainedModels } }),
    ...(def.styleGallery && {
      styleGallery: { ...def.styleGallery, items: def.styleGallery.items.map((i) => (i.model !== undefined && isInstalled ? { ...i, installed: isInstalled(i.model) } : { ...i })) },
    }),
  };
}
