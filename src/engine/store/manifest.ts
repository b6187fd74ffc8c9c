import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { AtelierError } from '../../core/errors.js';

/**
 * The model manifest (models/manifest.json, shipped in the package): every published model Atelier
 * can install, with the real source, size, checksum and licence of each of its files. Unknown
 * figures are null, never guessed. `ATELIER_MANIFEST` points at another manifest (tests, private
 * mirrors).
 *
 * A model is ONE name for one or more files that are installed together into
 * `$ATELIER_HOME/models/NAME/`, each at its relative `path` there. Two spellings are accepted:
 *  - a single file: `file`, `url`, `size`, `sha256` on the entry (the original layout);
 *  - several files: `files: [{ path, url, size, sha256, format? }]`.
 * Both are normalised into `files` on load, so the rest of the store only sees lists.
 *
 * `variants` (optional) name alternative subsets: files listed under a variant are installed only
 * when that variant is chosen; every other file is common to all. `variants.default` is what a
 * plain pull installs (e.g. magenta-arbitrary: the predictor + the fp16 transfer net).
 *
 * `terms` classifies the licence for the installer: `non-commercial`, `academic-only` and
 * `use-restricted` models are installed only after the user accepts them (`--accept-licence`, `acceptLicence: true`).
 */

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256 digest');

/** File formats the store knows; the readers live in src/engine/weights/ (one per format). */
/** `text`: vocabularies and merge lists (CLIP's tokenizer files), read by engine/nets/clip/tokenizer.ts. */
export const MODEL_FORMATS = ['pth', 'safetensors', 'tflite', 'graphdef', 'ncnn', 'deeplearnjs', 'onnx', 'hdf5', 'jpeg', 'text'] as const;
export type ModelFormat = (typeof MODEL_FORMATS)[number];

/**
 * How a licence limits use. The last three need the user's acceptance before installing:
 * `use-restricted` is a licence that allows commercial use but forbids listed uses and binds
 * every user to them (the RAIL licences, e.g. Stable Diffusion's CreativeML OpenRAIL-M).
 */
export const LICENCE_TERMS = ['permissive', 'unstated', 'non-commercial', 'academic-only', 'use-restricted'] as const;
export type LicenceTerms = (typeof LICENCE_TERMS)[number];

/** A relative path inside the model folder: no absolute paths, no `..`, no backslashes. */
const relativePath = z
  .string()
  .regex(/^[A-Za-z0-9_.+-]+(\/[A-Za-z0-9_.+-]+)*$/, 'a relative path of plain names separated by /')
  .refine((p) => !p.split('/').some((part) => part === '.' || part === '..'), 'a path without . or .. parts');

const ModelFileSchema = z.object({
  /** Where the file lands inside the model folder. */
  path: relativePath,
  /** Direct download URL, or null when the file must be fetched by hand from the model's `page`. */
  url: z.url().nullable(),
  size: z.number().int().positive().nullable(),
  sha256: sha256.nullable(),
  /** When it differs from the model's format (an ONNX export beside a state dict, thumbnails). */
  format: z.enum(MODEL_FORMATS).optional(),
});

const VariantsSchema = z.object({
  default: z.string(),
  choices: z.record(
    z.string().regex(/^[a-z0-9][a-z0-9_-]*$/),
    z.object({ description: z.string(), files: z.array(relativePath).min(1) }),
  ),
});

const CommonFields = {
  name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'a lowercase name of letters, digits, _ . -'),
  description: z.string(),
  /** Which network (and key layout) the files fit. */
  network: z.string(),
  /** The format of the model's files (each file may override it). */
  format: z.enum(MODEL_FORMATS),
  /** Where the model is published, for people. */
  page: z.url(),
  licence: z.string(),
  terms: z.enum(LICENCE_TERMS).default('permissive'),
  provenance: z.string(),
  variants: VariantsSchema.optional(),
};

const SingleFileEntrySchema = z.object({
  ...CommonFields,
  /** File name in the model folder. */
  file: z.string().regex(/^[^/\\]+$/, 'a file name without directories'),
  url: z.url().nullable(),
  size: z.number().int().positive().nullable(),
  sha256: sha256.nullable(),
});

const MultiFileEntrySchema = z.object({
  ...CommonFields,
  files: z.array(ModelFileSchema).min(1),
});

export type ModelFile = z.infer<typeof ModelFileSchema>;
export type ModelVariants = z.infer<typeof VariantsSchema>;

/** A manifest entry as the store uses it: always a list of files. */
export interface ModelEntry {
  name: string;
  description: string;
  network: string;
  format: ModelFormat;
  page: string;
  licence: string;
  terms: LicenceTerms;
  provenance: string;
  variants?: ModelVariants;
  files: ModelFile[];
  /** Set for models made here (trained, merged), which no manifest publishes (store/trained-entry.ts). */
  trained?: TrainedInfo;
}

/** How a trained model was made and which method runs it. */
export interface TrainedInfo {
  /** The training recipe (`atelier train <id>`). */
  trainer: string;
  iterations: number;
  createdAt: string;
  /** The method that runs it and the param that takes its name (weights, lora, …), with the other params it needs. */
  use?: { method: string; param: string; params?: Record<string, unknown>; choices?: Record<string, readonly string[]> };
  /** The server job that trained it (absent: trained by the CLI, `atelier train`). */
  job?: string;
  /** Set for a model moved from the older CLI store (`<atelier home>/trained/<kind>/NAME.safetensors`): that file, relative to the home. */
  migratedFrom?: string;
  /** Its name there, when the store's stricter names (lowercase, no dots) or a clash made it change; still found by it. */
  formerName?: string;
  /** The recipe's params, as resolved. */
  params?: Record<string, unknown>;
}

/** An entry as written in a manifest file (either spelling). */
export type ModelEntryInput = z.input<typeof SingleFileEntrySchema> | z.input<typeof MultiFileEntrySchema>;

const ManifestSchema = z.object({
  $comment: z.string().optional(),
  version: z.literal(1),
  models: z.array(z.union([MultiFileEntrySchema, SingleFileEntrySchema])),
});

export interface Manifest {
  path: string;
  models: ModelEntry[];
}

/** models/manifest.json next to src/ and dist/ (both sit two levels under the package root). */
export const DEFAULT_MANIFEST = fileURLToPath(new URL('../../../models/manifest.json', import.meta.url));

export function manifestPath(): string {
  return process.env.ATELIER_MANIFEST || DEFAULT_MANIFEST;
}

function normalise(raw: z.output<typeof SingleFileEntrySchema> | z.output<typeof MultiFileEntrySchema>): ModelEntry {
  const { name, description, network, format, page, licence, terms, provenance, variants } = raw;
  const files = 'files' in raw ? raw.files : [{ path: raw.file, url: raw.url, size: raw.size, sha256: raw.sha256 }];
  return { name, description, network, format, page, licence, terms, provenance, ...(variants && { variants }), files };
}

function checkEntry(entry: ModelEntry, file: string): void {
  const fail = (what: string) => {
    throw new AtelierError('E_INTERNAL', `The model manifest entry "${entry.name}" ${what}`, { subject: file });
  };
  const paths = new Set<string>();
  for (const f of entry.files) {
    if (paths.has(f.path)) fail(`lists the file ${f.path} twice`);
    // a file may not also be a folder of another (a/b and a/b/c cannot both exist)
    for (const other of paths) if (other.startsWith(`${f.path}/`) || f.path.startsWith(`${other}/`)) fail(`has ${f.path} and ${other}, one inside the other`);
    paths.add(f.path);
  }
  if (entry.variants) {
    const { choices } = entry.variants;
    if (!(entry.variants.default in choices)) fail(`names the default variant "${entry.variants.default}", which is not one of its variants`);
    for (const [variant, choice] of Object.entries(choices)) {
      for (const p of choice.files) if (!paths.has(p)) fail(`variant "${variant}" names ${p}, which is not one of its files`);
    }
  }
}

/**
 * The manifest as last read, by file, with the size and time of change it had: checking each
 * method's weights (`atelier methods`, the server's method list) asks for it dozens of times, and
 * parsing and validating its 170 KB took 20 ms each time (measured under load). Shared between
 * callers: never modified.
 */
const readManifests = new Map<string, { stamp: string; manifest: Manifest }>();

export function loadManifest(file = manifestPath()): Manifest {
  let stamp: string | undefined;
  try {
    const stat = statSync(file);
    stamp = `${stat.size}:${stat.mtimeMs}`;
  } catch {
    // unreadable: reading it below says why
  }
  const known = readManifests.get(file);
  if (known && stamp !== undefined && known.stamp === stamp) return known.manifest;
  const manifest = readManifest(file);
  if (stamp !== undefined) readManifests.set(file, { stamp, manifest });
  return manifest;
}

function readManifest(file: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new AtelierError('E_INTERNAL', `The model manifest could not be read (${(e as Error).message})`, { subject: file, cause: e });
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AtelierError('E_INTERNAL', `The model manifest is malformed at ${issue.path.join('.')}: ${issue.message}`, { subject: file });
  }
  const names = new Set<string>();
  const models: ModelEntry[] = [];
  for (const m of parsed.data.models) {
    if (names.has(m.name)) throw new AtelierError('E_INTERNAL', `The model manifest lists "${m.name}" twice`, { subject: file });
    names.add(m.name);
    const entry = normalise(m);
    checkEntry(entry, file);
    models.push(entry);
  }
  return { path: file, models };
}

export function findModel(manifest: Manifest, name: string): ModelEntry {
  const entry = manifest.models.find((m) => m.name === name);
  if (!entry) {
    throw new AtelierError('E_PARAM', `Unknown model "${name}"`, {
      subject: 'model',
      expected: `one of ${manifest.models.map((m) => m.name).join(', ')}`,
      received: JSON.stringify(name),
      hint: 'run `atelier models list` to see them',
    });
  }
  return entry;
}

/** The format of one file of a model. */
export function fileFormat(entry: ModelEntry, file: ModelFile): ModelFormat {
  return file.format ?? entry.format;
}

/** Whether the licence asks for the user's explicit acceptance before installing. */
export function needsAcceptance(entry: ModelEntry): boolean {
  return entry.terms === 'non-commercial' || entry.terms === 'academic-only' || entry.terms === 'use-restricted';
}

/** Total published size, or null when any file's size is unknown. */
export function totalSize(files: readonly ModelFile[]): number | null {
  let sum = 0;
  for (const f of files) {
    if (f.size === null) return null;
    sum += f.size;
  }
  return sum;
}

/**
 * The files a set of variants needs: every common file plus those of the chosen variants.
 * `undefined` chooses the default variant; `'all'` every variant. Unknown names are refused.
 */
export function filesFor(entry: ModelEntry, variants?: readonly string[] | 'all'): ModelFile[] {
  const v = entry.variants;
  if (!v) {
    if (variants !== undefined && variants !== 'all' && variants.length > 0) {
      throw new AtelierError('E_PARAM', `The model "${entry.name}" has no variants`, {
        subject: 'variant',
        received: variants.join(', '),
        hint: `leave out --variant for ${entry.name}`,
      });
    }
    return entry.files;
  }
  const chosen = variants === 'all' ? Object.keys(v.choices) : variants === undefined || variants.length === 0 ? [v.default] : [...variants];
  for (const name of chosen) {
    if (!(name in v.choices)) {
      throw new AtelierError('E_PARAM', `The model "${entry.name}" has no variant "${name}"`, {
        subject: 'variant',
        expected: `one of ${Object.keys(v.choices).join(', ')} (or all)`,
        received: JSON.stringify(name),
      });
    }
  }
  const inSomeVariant = new Set(Object.values(v.choices).flatMap((c) => c.files));
  const wanted = new Set(chosen.flatMap((name) => v.choices[name]!.files));
  return entry.files.filter((f) => !inSomeVariant.has(f.path) || wanted.has(f.path));
}

/** `ATELIER_MODEL_URL_<NAME>` (upper case, non-alphanumerics as _) replaces a single-file entry's URL. */
export function urlOverrideVariable(name: string): string {
  return `ATELIER_MODEL_URL_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** The URL of a model's file, after the per-model override (which only single-file models honour). */
export function effectiveUrl(entry: ModelEntry, file: ModelFile = entry.files[0]!): string | null {
  const override = entry.files.length === 1 ? process.env[urlOverrideVariable(entry.name)] : undefined;
  return override || file.url;
}
