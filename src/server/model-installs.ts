import { AtelierError, isAtelierError } from '../core/errors.js';
import type { ProgressEvent } from '../core/progress.js';
import { listMethods } from '../methods/index.js';
import { licenceError, listModels, modelStatus, pullModel, type ModelStatus } from '../engine/store.js';
import { effectiveUrl, filesFor, needsAcceptance, totalSize } from '../engine/store/manifest.js';
import { mirrorFromEnv } from '../engine/store/mirror.js';

/**
 * Model installs started from the studio: one download per model at a time, its progress kept in
 * memory for clients to poll, its failure kept (code and message) until the next try. The store
 * does the downloading, checking and atomic install; this only tracks it. Nothing here shows a
 * path on the server.
 */

export interface InstallState {
  state: 'running' | 'failed';
  fraction: number;
  received?: number;
  total?: number;
  error?: { code: string; message: string };
}

type Source = 'mirror' | 'upstream';
/** A mirror folder finds files by checksum; a mirror URL and upstream by address. */
type SourceKind = 'mirror-dir' | 'mirror-url' | 'upstream';

/** Where installs come from: the server's mirror (ATELIER_MODEL_MIRROR) or each model's publisher. Never the mirror's path. */
function sourceKind(): SourceKind {
  try {
    const mirror = mirrorFromEnv();
    return mirror ? (mirror.kind === 'dir' ? 'mirror-dir' : 'mirror-url') : 'upstream';
  } catch {
    return 'upstream';
  }
}

const source = (kind: SourceKind = sourceKind()): Source => (kind === 'upstream' ? 'upstream' : 'mirror');

/**
 * Why the server cannot fetch these files itself, in words a client may see (no path), or
 * undefined when it can: upstream needs an address for each; a mirror folder finds each by its
 * SHA-256, which some publishers never gave (CAP-VSTNet's checkpoints).
 */
function unavailableReason(entry: ModelStatus['entry'], files: ReturnType<typeof filesFor>, kind: SourceKind): string | undefined {
  if (kind === 'mirror-dir' && files.some((f) => f.sha256 === null)) return "Not in the server's model mirror: its publisher gives no checksum to find it by";
  if (kind === 'upstream' && !files.every((f) => effectiveUrl(entry, f) !== null)) return 'No download address on this server';
  return undefined;
}

function installFailure(code: string): string {
  switch (code) {
    case 'E_DOWNLOAD':
      return 'The download failed (network or the source refused it); try again later';
    case 'E_WEIGHTS_INVALID':
    case 'E_WEIGHTS_CORRUPT':
      return 'The downloaded files failed their checks (size or checksum) and were discarded';
    case 'E_WEIGHTS_MISSING':
      return "The server's model source does not have this model";
    case 'E_ABORTED':
      return 'The install was cancelled';
    default:
      return `The install failed on the server (${code}; see its log)`;
  }
}

export class ModelInstalls {
  private readonly states = new Map<string, InstallState>();
  private readonly running = new Map<string, AbortController>();

  /** Every model in the manifest as clients see it: no file paths. */
  list() {
    const kind = sourceKind();
    return listModels().map((s) => this.view(s, kind));
  }

  get(name: string) {
    return this.view(modelStatus(name), sourceKind());
  }

  private view(s: ModelStatus, kind: SourceKind) {
    const unavailable = unavailableReason(s.entry, filesFor(s.entry), kind);
    const trained = s.entry.trained;
    const usedBy = trained?.use
      ? [trained.use.method]
      : listMethods()
          .filter((m) => (m.weights ?? []).some((w) => w.model === s.name))
          .map((m) => m.id);
    const install = this.states.get(s.name);
    return {
      name: s.name,
      description: s.entry.description,
      network: s.entry.network,
      licence: s.entry.licence,
      terms: s.entry.terms,
      /** The licence must be accepted before installing (non-commercial or academic-only terms). */
      nonCommercial: needsAcceptance(s.entry),
      page: s.entry.page,
      size: s.record?.size ?? totalSize(filesFor(s.entry)),
      files: s.entry.files.length,
      installed: s.installed,
      source: source(kind),
      downloadable: unavailable === undefined,
      ...(unavailable !== undefined && { unavailable }),
      usedBy,
      // Alternative files (precisions, sizes), each with the bytes of its own files (`size` above
      // is the default install: the common files and the default variant's); never a path.
      ...(s.entry.variants && {
        variants: {
          default: s.entry.variants.default,
          installed: s.variants ?? [],
          choices: Object.entries(s.entry.variants.choices).map(([name, c]) => ({ name, description: c.description, size: totalSize(s.entry.files.filter((f) => c.files.includes(f.path))) })),
        },
      }),
      ...(s.installed && s.record && { installedAt: s.record.installedAt, checksumVerified: s.record.checksumVerified }),
      // Also while an installed model gets another variant: the client follows that download too.
      ...(install && { install }),
      // Made here by a training job: how, and which method param takes its name. Never a path.
      ...(trained && {
        trained: { trainer: trained.trainer, iterations: trained.iterations, createdAt: trained.createdAt, ...(trained.job && { job: trained.job }), ...(trained.use && { use: trained.use }) },
      }),
    };
  }

  /**
   * Start installing (the given variants of a model that has them; default its default variant);
   * returns at once. A second call while one runs joins it; variants already there are kept.
   */
  start(name: string, acceptLicence: boolean, variants?: readonly string[]): void {
    const status = modelStatus(name); // an unknown name is E_PARAM, listing the known ones
    const wanted = filesFor(status.entry, variants); // an unknown variant is E_PARAM, naming the variants
    const present = new Set(status.files.filter((f) => f.installed).map((f) => f.path));
    if ((status.installed && wanted.every((f) => present.has(f.path))) || this.running.has(name)) return;
    // Refused at once (not as a failed install later): the store's own E_LICENCE.
    if (needsAcceptance(status.entry) && !acceptLicence) throw licenceError(status.entry);
    const kind = sourceKind();
    if (unavailableReason(status.entry, wanted, kind) !== undefined) {
      throw new AtelierError('E_WEIGHTS_MISSING', kind === 'upstream' ? `The model "${name}" has no download address the server can use` : `The model "${name}" cannot be found in the server's model mirror: its publisher gives no checksum`, {
        hint: `the server's administrator installs it (\`atelier models pull ${name} --from DIR\`, or sets ATELIER_MODEL_MIRROR); it is published at ${status.entry.page}`,
        subject: name,
      });
    }
    const controller = new AbortController();
    this.running.set(name, controller);
    this.states.set(name, { state: 'running', fraction: 0 });
    const onProgress = (e: ProgressEvent) => {
      if (e.type === 'download') this.states.set(name, { state: 'running', fraction: e.fraction, received: e.received, ...(e.total !== undefined && { total: e.total }) });
    };
    pullModel(name, { onProgress, signal: controller.signal, acceptLicence, waitForLock: true, ...(variants !== undefined && variants.length > 0 && { variants }) }).then(
      () => this.states.delete(name),
      (e: unknown) => {
        // Only the code and a summary reach the client: the store's messages may name the mirror's folder.
        const error = { code: isAtelierError(e) ? e.code : 'E_INTERNAL', message: isAtelierError(e) ? installFailure(e.code) : 'The install failed on the server (see its log)' };
        this.states.set(name, { state: 'failed', fraction: this.states.get(name)?.fraction ?? 0, error });
      },
    ).finally(() => this.running.delete(name));
  }

  cancel(name: string): boolean {
    const c = this.running.get(name);
    c?.abort();
    return c !== undefined;
  }

  /** Stop every download (server shutdown); the store keeps the .partial to resume later. */
  close(): void {
    for (const c of this.running.values()) c.abort();
  }
}
