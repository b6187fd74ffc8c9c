import type { ModelEntry } from './manifest.js';

/**
 * `install.json`, the record in every installed model's folder of what was installed, from where
 * and with which digests: written by installs, imports and trained models alike.
 */

/** One installed file, as `install.json` records it. */
export interface InstalledFileRecord {
  path: string;
  size: number;
  sha256: string;
  /** Whether the digest was checked against the manifest (false when the manifest has none). */
  checksumVerified: boolean;
  /** The URL it came from, `mirror:<dir>/<file>`, or `import:<path>`. */
  source: string;
}

/** What `install.json` in a model folder records. */
export interface InstallRecord {
  name: string;
  /** The first file (the only one for single-file models). */
  file: string;
  /** Bytes of all files together. */
  size: number;
  /** SHA-256 of the first file. */
  sha256: string;
  /** True when every file's digest was checked against the manifest. */
  checksumVerified: boolean;
  /** Where the first file came from. */
  source: string;
  files: InstalledFileRecord[];
  /** The variants whose files are installed (models with variants only). */
  variants?: string[];
  /** Set when the licence needed acceptance and the user gave it. */
  licenceAccepted?: { terms: string; licence: string; at: string };
  installedAt: string;
}

export function makeRecord(entry: ModelEntry, files: InstalledFileRecord[], accepted: boolean | undefined): InstallRecord {
  const ordered = entry.files.map((f) => files.find((r) => r.path === f.path)).filter((r): r is InstalledFileRecord => r !== undefined);
  const first = ordered[0]!;
  const installedPaths = new Set(ordered.map((r) => r.path));
  const variants = entry.variants
    ? Object.entries(entry.variants.choices).filter(([, c]) => c.files.every((p) => installedPaths.has(p))).map(([v]) => v)
    : undefined;
  return {
    name: entry.name,
    file: first.path,
    size: ordered.reduce((s, r) => s + r.size, 0),
    sha256: first.sha256,
    checksumVerified: ordered.every((r) => r.checksumVerified),
    source: first.source,
    files: ordered,
    ...(variants && { variants }),
    ...(accepted && { licenceAccepted: { terms: entry.terms, licence: entry.licence, at: new Date().toISOString() } }),
    installedAt: new Date().toISOString(),
  };
}
