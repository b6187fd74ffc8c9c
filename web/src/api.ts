/**
 * The studio's view of the HTTP API. Every request carries the bearer token when one is set
 * (Settings); images are fetched as blobs for the same reason, since <img src> cannot send headers.
 */

// The server's own description types: one definition for both ends (type-only, erased by Vite).
import type { MethodDescription } from '../../src/core/describe.js';
import type { JsonPropertySchema } from '../../src/core/params.js';
import type { ProgressEvent } from '../../src/core/progress.js';
import type { JobJson } from '../../src/server/job-record.js';
import type { TrainerDescription } from '../../src/train/describe.js';

export type PropertySchema = JsonPropertySchema;
/** A training recipe and its form (GET /api/trainers). */
export type TrainerInfo = TrainerDescription;
export type { TrainingJobParams } from '../../src/server/job-record.js';
export type MethodInfo = MethodDescription;

// Jobs and progress as the server defines them (src/server/job-record.ts, src/core/progress.ts).
export type { JobStatus } from '../../src/server/job-record.js';
export type Job = JobJson;
export type { ProgressEvent };

/** What the server accepts in an upload (GET /api/config). */
export interface ServerConfig {
  version: string;
  limits: { maxFileBytes: number; maxPixels: number; maxStyles: number; imageTypes: string[]; maxVideoSeconds?: number; maxVideoPixels?: number };
}

/** A model the server's store knows (GET /api/models); never a path. */
export interface ModelInfo {
  name: string;
  description: string;
  network: string;
  licence: string;
  terms: 'permissive' | 'unstated' | 'non-commercial' | 'academic-only';
  /** The licence must be accepted before the model installs. */
  nonCommercial: boolean;
  source: 'mirror' | 'upstream';
  files: number;
  page: string;
  size: number | null;
  installed: boolean;
  downloadable: boolean;
  /** Why the server cannot install it itself (no address upstream; no checksum to find it in a mirror folder). */
  unavailable?: string;
  usedBy: string[];
  installedAt?: string;
  /** Trained on this server: by which recipe, and the method param that takes its name. */
  trained?: { trainer: string; iterations: number; createdAt: string; job?: string; use?: { method: string; param: string; params?: Record<string, unknown> } };
  install?: { state: 'running' | 'failed'; fraction: number; received?: number; total?: number; error?: { code: string; message: string } };
  /** Alternative files (precisions, sizes): `size` of a choice is its own files; the model's `size` is the default install. */
  variants?: { default: string; installed: string[]; choices: { name: string; description: string; size: number | null }[] };
}

export interface Sample {
  id: string;
  kind: 'content' | 'style';
  title: string;
  url: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = 'atelier.token';
export const token = {
  get: () => localStorage.getItem(TOKEN_KEY) ?? '',
  set: (t: string) => (t ? localStorage.setItem(TOKEN_KEY, t) : localStorage.removeItem(TOKEN_KEY)),
};

async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const t = token.get();
  if (t) headers.set('authorization', `Bearer ${t}`);
  const r = await fetch(path, { ...init, headers });
  if (!r.ok) {
    let code = 'E_HTTP';
    let message = `${r.status} ${r.statusText}`;
    try {
      const body = (await r.json()) as { error?: { code: string; message: string } };
      if (body.error) ({ code, message } = body.error);
    } catch {
      // not JSON
    }
    throw new ApiError(r.status, code, message);
  }
  return r;
}

export const api = {
  methods: async () => ((await (await request('/api/methods')).json()) as { methods: MethodInfo[] }).methods,
  submit: async (form: FormData) => (await (await request('/api/jobs', { method: 'POST', body: form })).json()) as Job,
  job: async (id: string) => (await (await request(`/api/jobs/${id}`)).json()) as Job,
  jobs: async (page: number, pageSize = 12) =>
    (await (await request(`/api/jobs?page=${page}&pageSize=${pageSize}`)).json()) as { jobs: Job[]; total: number; pages: number },
  /** DELETE on a finished job removes it and its files (servers from the harden lane on; older ones answer 409). */
  remove: async (id: string) => (await (await request(`/api/jobs/${id}`, { method: 'DELETE' })).json()) as { deleted: string },
  cancel: async (id: string) => (await (await request(`/api/jobs/${id}`, { method: 'DELETE' })).json()) as Job,
  rerun: async (id: string) => (await (await request(`/api/jobs/${id}/rerun`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json()) as Job,
  evaluate: async (id: string) =>
    (await (await request('/api/eval', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ job: id }) })).json()) as {
      metrics: Record<string, { value: number; higherIsBetter: boolean; title: string }>;
    },
  config: async () => (await (await request('/api/config')).json()) as ServerConfig,
  models: async () => ((await (await request('/api/models')).json()) as { models: ModelInfo[] }).models,
  installModel: async (name: string, acceptLicence: boolean, variants?: string[]) =>
    (await (
      await request(`/api/models/${encodeURIComponent(name)}/install`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acceptLicence, ...(variants && { variants }) }) })
    ).json()) as ModelInfo,
  cancelInstall: async (name: string) => (await (await request(`/api/models/${encodeURIComponent(name)}/install`, { method: 'DELETE' })).json()) as ModelInfo,
  trainers: async () => ((await (await request('/api/trainers')).json()) as { trainers: TrainerInfo[] }).trainers,
  train: async (form: FormData) => (await (await request('/api/trainings', { method: 'POST', body: form })).json()) as Job,
  resume: async (id: string, iterations?: number) =>
    (await (await request(`/api/jobs/${id}/resume`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(iterations ? { iterations } : {}) })).json()) as Job,
  losses: async (id: string) => ((await (await request(`/api/jobs/${id}/losses`)).json()) as { records: ({ iteration: number } & Record<string, number>)[] }).records,
  /** The results of finished jobs as one zip, fetched with the token and saved. */
  zip: async (ids: string[]) => (await request(`/api/zip?jobs=${ids.map(encodeURIComponent).join(',')}`)).blob(),
  /** The studio's own shipped files (samples, example pictures): no token needed, but harmless. */
  samples: async () => ((await (await fetch('/samples/index.json')).json()) as { samples: Sample[] }).samples,
  examples: async () => {
    const r = await fetch('/examples/index.json');
    return r.ok ? ((await r.json()) as { examples: Record<string, { url: string }> }).examples : {};
  },
  /** The bytes of an image the API serves (the page's CSP forbids fetching blob: URLs back). */
  blob: async (path: string) => (await request(path)).blob(),
  /** An object URL for an image the API serves (result or stored input). */
  imageUrl: async (path: string) => URL.createObjectURL(await (await request(path)).blob()),
};

/**
 * Follow a job's server-sent events until it ends. Uses fetch rather than EventSource so the
 * bearer token can go in a header. Returns a function that stops listening.
 */
export function followJob(id: string, on: { progress(e: ProgressEvent): void; status(j: Job): void; end(j: Job | undefined, error?: { code: string; message: string }): void }): () => void {
  const controller = new AbortController();
  let ended = false;
  const end: typeof on.end = (j, e) => {
    ended = true;
    on.end(j, e);
  };
  const once = async () => {
    const r = await request(`/api/jobs/${id}/events`, { signal: controller.signal });
    const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!event || !data) continue;
        const payload = JSON.parse(data);
        if (event === 'progress') on.progress(payload as ProgressEvent);
        else if (event === 'status') on.status(payload as Job);
        else if (event === 'done') end(payload as Job);
        else if (event === 'error') end(undefined, payload as { code: string; message: string });
      }
    }
  };
  void (async () => {
    // A stream cut short (server restarted, network blip) is picked up again: the job lives on.
    for (let attempt = 0; attempt < 30 && !ended && !controller.signal.aborted; attempt++) {
      try {
        await once();
      } catch (e) {
        if (controller.signal.aborted) return;
        if (e instanceof ApiError && e.status < 500) return end(undefined, { code: e.code, message: e.message });
      }
      if (!ended) await new Promise((r) => setTimeout(r, 2000));
    }
    if (!ended && !controller.signal.aborted) end(undefined, { code: 'E_JOB', message: 'Lost contact with the server; the job may still finish (see History).' });
  })();
  return () => controller.abort();
}
