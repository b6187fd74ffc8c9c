import { AtelierError, isAtelierError } from '../core/errors.js';
import type { ProgressEvent } from '../core/progress.js';
import { listMethods } from '../index.js';
import { listModels, modelStatus, pullModel, type ModelStatus } from '../engine/store.js';
import { effectiveUrl, type ModelEntry } from '../engine/store/manifest.js';

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

/** Licences that allow only non-commercial use: installing one asks the user to accept it first. */
export function isNonCommercial(entry: ModelEntry): boolean {
  return /non-?commercial|\bNC\b|BY-NC/i.test(entry.licence);
}

export class ModelInstalls {
  private readonly states = new Map<string, InstallState>();
  private readonly running = new Map<string, AbortController>();

  /** Every model in the manifest as clients see it: no file paths. */
  list() {
    return listModels().map((s) => this.view(s));
  }

  get(name: string) {
    return this.view(modelStatus(name));
  }

  private view(s: ModelStatus) {
    const usedBy = listMethods()
      .filter((m) => (m.weights ?? []).some((w) => w.model === s.name))
      .map((m) => m.id);
    const install = this.states.get(s.name);
    return {
      name: s.name,
      description: s.entry.description,
      network: s.entry.network,
      licence: s.entry.licence,
      nonCommercial: isNonCommercial(s.entry),
      page: s.entry.page,
      size: s.record?.size ?? s.entry.size,
      installed: s.installed,
      downloadable: effectiveUrl(s.entry) !== null,
      usedBy,
      ...(s.installed && s.record && { installedAt: s.record.installedAt, checksumVerified: s.record.checksumVerified }),
      ...(install && !s.installed && { install }),
    };
  }

  /** Start installing; returns at once. A second call while one runs joins it. */
  start(name: string, acceptLicence: boolean): void {
    const status = modelStatus(name); // an unknown name is E_PARAM, listing the known ones
    if (status.installed || this.running.has(name)) return;
    if (isNonCommercial(status.entry) && !acceptLicence) {
      throw new AtelierError('E_PARAM', `The model "${name}" is licensed for non-commercial use only`, {
        expected: 'acceptLicence: true in the request body, after the user has read the licence',
        received: `no acceptance of "${status.entry.licence}"`,
        hint: `read the licence at ${status.entry.page}`,
        subject: name,
      });
    }
    if (effectiveUrl(status.entry) === null) {
      throw new AtelierError('E_WEIGHTS_MISSING', `The model "${name}" has no download address the server can use`, {
        hint: `download ${status.entry.file} from ${status.entry.page} and install it on the server with \`atelier models import ${name} FILE\``,
        subject: name,
      });
    }
    const controller = new AbortController();
    this.running.set(name, controller);
    this.states.set(name, { state: 'running', fraction: 0 });
    const onProgress = (e: ProgressEvent) => {
      if (e.type === 'download') this.states.set(name, { state: 'running', fraction: e.fraction, received: e.received, ...(e.total !== undefined && { total: e.total }) });
    };
    pullModel(name, { onProgress, signal: controller.signal }).then(
      () => this.states.delete(name),
      (e: unknown) => {
        // The store's messages name URLs and model names, not local paths; an unexpected error is summarised.
        const error = isAtelierError(e) && e.code !== 'E_INTERNAL' ? { code: e.code, message: e.message } : { code: 'E_INTERNAL', message: 'The install failed on the server (see its log)' };
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
