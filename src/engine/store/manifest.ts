import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { AtelierError } from '../../core/errors.js';

/**
 * The model manifest (models/manifest.json, shipped in the package): every published weight file
 * Atelier can install, with its real source, size, checksum and licence. Unknown figures are
 * null, never guessed. `ATELIER_MANIFEST` points at another manifest (tests, private mirrors).
 */

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256 digest');

export const ModelEntrySchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'a lowercase name of letters, digits, _ . -'),
  description: z.string(),
  /** Which network (and key layout) the file fits. */
  network: z.string(),
  format: z.enum(['pth', 'safetensors']),
  /** File name in the cache. */
  file: z.string().regex(/^[^/\\]+$/, 'a file name without directories'),
  /** Direct download URL, or null when the file must be fetched by hand from `page`. */
  url: z.url().nullable(),
  /** Where the file is published, for people. */
  page: z.url(),
  size: z.number().int().positive().nullable(),
  sha256: sha256.nullable(),
  licence: z.string(),
  provenance: z.string(),
});

export type ModelEntry = z.infer<typeof ModelEntrySchema>;

const ManifestSchema = z.object({
  $comment: z.string().optional(),
  version: z.literal(1),
  models: z.array(ModelEntrySchema),
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

export function loadManifest(file = manifestPath()): Manifest {
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
  for (const m of parsed.data.models) {
    if (names.has(m.name)) throw new AtelierError('E_INTERNAL', `The model manifest lists "${m.name}" twice`, { subject: file });
    names.add(m.name);
  }
  return { path: file, models: parsed.data.models };
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

/** `ATELIER_MODEL_URL_<NAME>` (upper case, non-alphanumerics as _) replaces an entry's URL. */
export function urlOverrideVariable(name: string): string {
  return `ATELIER_MODEL_URL_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export function effectiveUrl(entry: ModelEntry): string | null {
  return process.env[urlOverrideVariable(entry.name)] || entry.url;
}
