import { paramsJsonSchema, type JsonObjectSchema, SHARED_CONTROL_KEYS } from './params.js';
import { FAMILIES, type AnyMethod, type InputsSpec, type StyleGallery, type StyleGalleryItem, type WeightsSpec } from './registry.js';
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
  /** `trained`: a model trained on this server (listed by the server, not by the method). */
  weights: (WeightsSpec & { installed?: boolean; trained?: boolean })[];
  /** Params a form folds under Advanced. */
  advanced: string[];
  /** Named partial params to start from. */
  presets: { name: string; params: Record<string, unknown> }[];
  /** `installed` on the items that are models of their own (when the describer knows). */
  styleGallery?: Omit<StyleGallery, 'items'> & { items: (StyleGalleryItem & { installed?: boolean })[] };
}

/** Shared controls few people change: folded under Advanced for every method. */
const ADVANCED_SHARED = ['seed', 'maxSize'];

export function describeMethod(def: AnyMethod, isInstalled?: (model: string) => boolean): MethodDescription {
  const params = paramsJsonSchema(methodParamsSchema(def));
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
    ...(def.styleGallery && {
      styleGallery: { ...def.styleGallery, items: def.styleGallery.items.map((i) => (i.model !== undefined && isInstalled ? { ...i, installed: isInstalled(i.model) } : { ...i })) },
    }),
  };
}
