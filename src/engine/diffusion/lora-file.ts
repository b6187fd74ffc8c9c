import { existsSync, statSync } from 'node:fs';
import { AtelierError, isAtelierError } from '../../core/errors.js';
import { parseLoraSpec } from '../lora/adapter.js';
import { resolveTrainedModel } from '../store/trained.js';
import { readSafetensorsHeader } from '../weights/safetensors.js';
import { detectWeightFormat, readWeights } from '../weights/read.js';
import type { TensorMap } from '../weights/tensor.js';

/**
 * LoRA files for Stable Diffusion 1.x as other tools write them (Hu et al. 2021: for a weight W,
 * W' = W + (α / r) · up · down, down [r, in(, kh, kw)], up [out, r(, 1, 1)]), read into one list of
 * layers, each naming the module it changes in the file's own spelling. Which module of our
 * networks that is, and whether its shape fits, is `lora-modules.ts`' and `lora-merge.ts`' work.
 *
 * Key layouts (facts from kohya-ss/sd-scripts networks/lora.py and huggingface/diffusers
 * loaders/lora_pipeline.py and lora_conversion_utils.py):
 * - **kohya** (sd-scripts, and the files most sites share): `lora_unet_<module>.lora_down.weight`,
 *   `.lora_up.weight` and a scalar `.alpha`, where `<module>` is the diffusers module path with
 *   every `.` turned into `_` (`lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q`);
 *   the text encoder's under `lora_te_` with transformers' names (`lora_te_text_model_encoder_layers_0_self_attn_q_proj`).
 *   A 3×3 conv's down is [r, in, 3, 3] and its up [out, r, 1, 1] (LoCon, sd-scripts' conv_dim):
 *   supported. Without `.alpha`, α = r.
 * - **diffusers / PEFT** (diffusers ≥ 0.22 `save_lora_weights`): `unet.<module>.lora_A.weight`
 *   (= down) and `.lora_B.weight` (= up), `text_encoder.<module>…`; α is not in the tensors: it is
 *   `<component>.lora_alpha` in the JSON safetensors metadata `lora_adapter_metadata` when
 *   diffusers wrote one, else α = r (PEFT's scaling 1). A bare PEFT adapter's
 *   `base_model.model.<module>` is read as the UNet's (the text encoder's when it starts with `text_model.`).
 * - **diffusers, older**: attention processors' `<module>.processor.to_q_lora.down.weight`
 *   (to_q, to_k, to_v, to_out → to_out.0; with or without `unet.`), LoRACompatibleLinear's
 *   `unet.<module>.lora.down.weight` / `.up.weight`, and the text encoder's
 *   `text_encoder.<module>.lora_linear_layer.down.weight`.
 * In every layout a scalar `<layer>.alpha` beside a pair sets its α.
 *
 * Refused by name, as other kinds of adapter than a low-rank product: LyCORIS' LoHa (`hada_*`),
 * LoKr (`lokr_*`), LoCon's Tucker core (`lora_mid`), DoRA's `dora_scale`, full differences
 * (`diff`, `diff_b`), (IA)³ (`on_input`), GLoRA (`a1`, `a2`, `b1`, `b2`), OFT (`oft_*`), norm
 * tuning (`w_norm`, `b_norm`); SDXL's second text encoder (`lora_te2_`, `text_encoder_2.`). Any
 * other key is an error naming it: nothing in a file is skipped silently.
 */

export type DiffusionLoraComponent = 'unet' | 'text';
export type DiffusionLoraLayout = 'kohya' | 'peft' | 'diffusers-legacy';

export interface DiffusionLoraLayer {
  component: DiffusionLoraComponent;
  /** The module as the file names it: a dotted path, or (kohya) the path with `_` for `.`. */
  module: string;
  underscored: boolean;
  layout: DiffusionLoraLayout;
  /** The file's key of the layer without its suffix, for messages. */
  key: string;
  down: Float32Array;
  downShape: number[];
  up: Float32Array;
  upShape: number[];
  rank: number;
  alpha: number;
}

export interface DiffusionLora {
  source: string;
  layers: DiffusionLoraLayer[];
  /** The layouts its keys are in. */
  layouts: DiffusionLoraLayout[];
}

/** One file of a stack and its weight (`--lora FILE[:weight]`). */
export interface WeightedDiffusionLora {
  lora: DiffusionLora;
  weight: number;
}

/** Other adapter kinds, by a key part they always have. */
const OTHER_KINDS: [RegExp, string][] = [
  [/\.hada_(w1|w2|t1|t2)(_a|_b)?$/, 'LyCORIS LoHa (Hadamard product)'],
  [/\.lokr_(w1|w2|t1|t2)(_a|_b)?$/, 'LyCORIS LoKr (Kronecker product)'],
  [/\.lora_mid\.weight$/, "LoCon's Tucker decomposition (lora_mid)"],
  [/\.dora_scale$/, 'DoRA (weight-decomposed LoRA)'],
  [/\.(diff|diff_b)$/, 'a full weight difference (LyCORIS "full")'],
  [/\.on_input$/, '(IA)³'],
  [/\.(a1|a2|b1|b2)\.weight$/, 'GLoRA'],
  [/\.oft_(blocks|diag)$|\.oft_r$|\.oft_R\./, 'OFT / BOFT'],
  [/\.(w_norm|b_norm)$/, 'norm fine-tuning'],
];

interface PairParts {
  component: DiffusionLoraComponent;
  module: string;
  underscored: boolean;
  layout: DiffusionLoraLayout;
  key: string;
  part: 'down' | 'up' | 'alpha';
}

const TO_OUT_LEGACY: Record<string, string> = { to_q: 'to_q', to_k: 'to_k', to_v: 'to_v', to_out: 'to_out.0' };

/** What a key is, or undefined when it is none of the layouts above. */
function classify(key: string): PairParts | undefined {
  let m = /^(lora_unet|lora_te|lora_te1)_(.+)\.(lora_down\.weight|lora_up\.weight|alpha)$/.exec(key);
  if (m) {
    const part = m[3] === 'alpha' ? 'alpha' : m[3]!.startsWith('lora_down') ? 'down' : 'up';
    return { component: m[1] === 'lora_unet' ? 'unet' : 'text', module: m[2]!, underscored: true, layout: 'kohya', key: `${m[1]}_${m[2]}`, part };
  }
  m = /^(unet\.|text_encoder\.|base_model\.model\.)(.+)\.(lora_A\.weight|lora_B\.weight|alpha)$/.exec(key);
  if (m) {
    const component = m[1] === 'unet.' ? 'unet' : m[1] === 'text_encoder.' || m[2]!.startsWith('text_model.') ? 'text' : 'unet';
    return { component, module: m[2]!, underscored: false, layout: 'peft', key: `${m[1]}${m[2]}`, part: m[3] === 'alpha' ? 'alpha' : m[3]!.startsWith('lora_A') ? 'down' : 'up' };
  }
  m = /^(unet\.)?(.+)\.processor\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$/.exec(key);
  if (m) return { component: 'unet', module: `${m[2]}.${TO_OUT_LEGACY[m[3]!]}`, underscored: false, layout: 'diffusers-legacy', key: key.replace(/\.(down|up)\.weight$/, ''), part: m[4] as 'down' | 'up' };
  m = /^(unet|text_encoder)\.(.+)\.(lora|lora_linear_layer)\.(down|up)\.weight$/.exec(key);
  if (m) return { component: m[1] === 'unet' ? 'unet' : 'text', module: m[2]!, underscored: false, layout: 'diffusers-legacy', key: `${m[1]}.${m[2]}.${m[3]}`, part: m[4] as 'down' | 'up' };
  return undefined;
}

function invalid(source: string, summary: string, details: { expected?: string; received?: string; hint?: string } = {}): AtelierError {
  return new AtelierError('E_WEIGHTS_INVALID', summary, { subject: source, ...details });
}

function listed(names: string[], limit = 6): string {
  return names.slice(0, limit).join(', ') + (names.length > limit ? `, … (${names.length} in all)` : '');
}

/** α for PEFT layers from diffusers' `lora_adapter_metadata` (per component), when the file has one. */
function peftAlphas(metadata: Record<string, string>, source: string): Partial<Record<DiffusionLoraComponent, number>> {
  const text = metadata.lora_adapter_metadata;
  if (!text) return {};
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw invalid(source, 'The LoRA file\'s lora_adapter_metadata is not JSON', { received: text.slice(0, 80) });
  }
  const out: Partial<Record<DiffusionLoraComponent, number>> = {};
  for (const [prefix, component] of [['unet', 'unet'], ['text_encoder', 'text']] as const) {
    for (const pattern of ['alpha_pattern', 'rank_pattern']) {
      const p = parsed[`${prefix}.${pattern}`];
      if (p && typeof p === 'object' && Object.keys(p).length > 0) {
        throw invalid(source, `The LoRA file sets a per-module ${pattern.replace('_', ' ')} for its ${prefix}, which Atelier does not apply`, {
          received: JSON.stringify(p).slice(0, 120),
          hint: 'save the adapter with one rank and one lora_alpha, or as kohya keys with an .alpha per layer',
        });
      }
    }
    const alpha = parsed[`${prefix}.lora_alpha`];
    if (alpha !== undefined) {
      if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw invalid(source, `The LoRA file's ${prefix}.lora_alpha is not a number`, { received: JSON.stringify(alpha) });
      out[component] = alpha;
    }
  }
  return out;
}

/** Parse a diffusion LoRA from its tensors (and safetensors metadata). */
export function parseDiffusionLora(tensors: TensorMap, metadata: Record<string, string>, source: string): DiffusionLora {
  const others = new Map<string, string[]>();
  const unknown: string[] = [];
  const groups = new Map<string, { parts: PairParts; down?: { data: Float32Array; shape: number[] }; up?: { data: Float32Array; shape: number[] }; alpha?: number }>();
  for (const [key, t] of tensors) {
    const other = OTHER_KINDS.find(([re]) => re.test(key));
    if (other) {
      others.set(other[1], [...(others.get(other[1]) ?? []), key]);
      continue;
    }
    if (/^(lora_te2_|text_encoder_2\.)/.test(key)) {
      throw invalid(source, 'The LoRA file is for SDXL (it has a second text encoder), not for Stable Diffusion 1.x', {
        received: key,
        hint: 'use a LoRA made for Stable Diffusion 1.x (SD 1.5 or a model fine-tuned from it)',
      });
    }
    const parts = classify(key);
    if (!parts) {
      unknown.push(key);
      continue;
    }
    // An `.alpha` may sit beside a pair of any layout: group by module, take the layout from the pair.
    const id = `${parts.component}|${parts.underscored}|${parts.module}`;
    const g = groups.get(id) ?? { parts };
    if (parts.part === 'alpha') {
      if (t.data.length !== 1) throw invalid(source, `The LoRA scale ${key} is not one number`, { received: `shape [${t.shape.join(', ')}]` });
      g.alpha = t.data[0]!;
    } else {
      if (g[parts.part]) throw invalid(source, `The LoRA file holds two ${parts.part} matrices for ${parts.module}`, { received: `${g.parts.key} and ${parts.key}` });
      g[parts.part] = { data: t.data, shape: t.shape };
      if (g.parts.part === 'alpha') g.parts = parts;
    }
    groups.set(id, g);
  }
  if (others.size > 0) {
    const [kind, keys] = [...others][0]!;
    throw invalid(source, `The file holds a ${kind} adapter, not LoRA's low-rank pairs: Atelier applies only LoRA (and LoCon's plain conv pairs)`, {
      expected: 'lora_down/lora_up (kohya), lora_A/lora_B (diffusers/PEFT) or lora.down/lora.up (older diffusers) pairs',
      received: listed(keys, 3),
      hint: 'convert it to a plain LoRA (e.g. extract a LoRA from the merged model) or use it in a tool that supports this kind',
    });
  }
  if (unknown.length > 0) {
    throw invalid(source, `The LoRA file holds ${unknown.length} key${unknown.length === 1 ? '' : 's'} in no layout Atelier reads`, {
      expected: 'kohya (lora_unet_… / lora_te_… .lora_down.weight, .lora_up.weight, .alpha), diffusers/PEFT (unet.… / text_encoder.… .lora_A.weight, .lora_B.weight) or older diffusers (….processor.to_q_lora.down.weight, ….lora.down.weight)',
      received: listed(unknown),
      hint: 'a LoRA for Stable Diffusion 1.x in one of those layouts; nothing in a file is skipped',
    });
  }
  const alphas = peftAlphas(metadata, source);
  const layers: DiffusionLoraLayer[] = [];
  for (const { parts, down, up, alpha } of groups.values()) {
    if (!down && !up) throw invalid(source, `The LoRA file has a scale ${parts.key}.alpha but no pair for it`, { hint: 'the file is incomplete: export it again' });
    if (!down || !up) {
      const missing = parts.layout === 'kohya' ? (down ? 'lora_up.weight' : 'lora_down.weight') : parts.layout === 'peft' ? (down ? 'lora_B.weight' : 'lora_A.weight') : down ? 'up.weight' : 'down.weight';
      throw invalid(source, `The LoRA file has half a pair: ${parts.key} lacks its ${missing}`, { hint: 'the file is incomplete: export it again' });
    }
    const rank = down.shape[0]!;
    const upOk = up.shape.length >= 2 && up.shape[1] === rank && up.shape.slice(2).every((d) => d === 1);
    if (down.shape.length < 2 || !upOk) {
      throw invalid(source, `The LoRA pair ${parts.key} does not multiply`, {
        expected: 'down [r, in(, kh, kw)] and up [out, r(, 1, 1)]',
        received: `down [${down.shape.join(', ')}], up [${up.shape.join(', ')}]`,
      });
    }
    for (const [what, d] of [['down', down.data], ['up', up.data]] as const) {
      const bad = d.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw invalid(source, `The LoRA tensor ${parts.key} (${what}) holds a non-finite value`, { received: `${d[bad]} at index ${bad}` });
    }
    const a = alpha ?? (parts.layout === 'peft' ? alphas[parts.component] : undefined) ?? rank;
    if (!Number.isFinite(a)) throw invalid(source, `The LoRA scale of ${parts.key} is not finite`, { received: String(a) });
    layers.push({ ...parts, down: down.data, downShape: down.shape, up: up.data, upShape: up.shape, rank, alpha: a });
  }
  if (layers.length === 0) throw invalid(source, 'The LoRA file changes no weight', { expected: 'at least one LoRA pair' });
  return { source, layers, layouts: [...new Set(layers.map((l) => l.layout))] };
}

/** Read a diffusion LoRA file (safetensors, or a PyTorch .bin/.pt such as diffusers' pytorch_lora_weights.bin). */
export async function readDiffusionLora(file: string): Promise<DiffusionLora> {
  let tensors: TensorMap;
  let metadata: Record<string, string> = {};
  try {
    tensors = await readWeights(file);
    if ((await detectWeightFormat(file)) === 'safetensors') metadata = (await readSafetensorsHeader(file)).metadata;
  } catch (e) {
    if (isAtelierError(e) && (e.code === 'E_WEIGHTS_INVALID' || e.code === 'E_WEIGHTS_CORRUPT')) {
      throw new AtelierError('E_WEIGHTS_CORRUPT', `Not a readable LoRA file: ${e.message}`, { subject: file, cause: e, hint: 'the LoRA file is truncated or damaged: download or train it again' });
    }
    throw e;
  }
  return parseDiffusionLora(tensors, metadata, file);
}

/** The kind of model `atelier train diffusion-lora --name` stores (`models/NAME/` with `network: 'diffusion-lora'`). */
export const DIFFUSION_LORA_KIND = 'diffusion-lora';

/**
 * Read each `FILE[:weight]` of a stack (weight default 1; the same spelling as the image methods'
 * `--lora`). FILE is a path, the name of an adapter stored by `atelier train diffusion-lora
 * --name`, or of one installed in the model store. Returns the stack and a key that changes when
 * any file does (for caches).
 */
export async function readDiffusionLoraStack(specs: readonly string[]): Promise<{ stack: WeightedDiffusionLora[]; key: string }> {
  const stack: WeightedDiffusionLora[] = [];
  const keys: string[] = [];
  for (const s of specs) {
    const { file, weight } = parseLoraSpec(s);
    const path = existsSync(file) ? file : resolveTrainedModel(DIFFUSION_LORA_KIND, file);
    stack.push({ lora: await readDiffusionLora(path), weight });
    const st = statSync(path);
    keys.push(`${path}@${st.size}.${st.mtimeMs}:${weight}`);
  }
  return { stack, key: keys.join(',') };
}
