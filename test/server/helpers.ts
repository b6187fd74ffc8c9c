import { encodeImage } from '../../src/core/io.js';
import { flatImage, gradientImage, noiseImage } from '../helpers/fixtures.js';
import type { LightMyRequestResponse } from 'fastify';
import type { AtelierServer } from '../../src/server/app.js';

/** Generated PNGs for server tests: a gradient content and a warm noisy style. */
export async function samplePngs(width = 64, height = 48): Promise<{ content: Buffer; style: Buffer; flat: Buffer }> {
  return {
    content: await encodeImage(gradientImage(width, height), 'png'),
    style: await encodeImage(noiseImage(width, height, 7, [0.8, 0.4, 0.2], 0.15), 'png'),
    flat: await encodeImage(flatImage(width, height, [0.2, 0.6, 0.3]), 'png'),
  };
}

export type FormValue = string | { bytes: Uint8Array; filename?: string; type?: string };

/** A multipart body (and its content type) from fields, through the platform's own FormData. */
export async function multipart(fields: [string, FormValue][]): Promise<{ payload: Buffer; headers: Record<string, string> }> {
  const form = new FormData();
  for (const [name, value] of fields) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, new Blob([value.bytes as Uint8Array<ArrayBuffer>], { type: value.type ?? 'image/png' }), value.filename ?? `${name}.png`);
  }
  const response = new Response(form);
  return { payload: Buffer.from(await response.arrayBuffer()), headers: { 'content-type': response.headers.get('content-type')! } };
}

export async function submit(app: AtelierServer, fields: [string, FormValue][], headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  const body = await multipart(fields);
  return app.inject({ method: 'POST', url: '/api/jobs', payload: body.payload, headers: { ...body.headers, ...headers } });
}

/** Poll a job until it has finished (bounded: fails after `timeoutMs`). */
export async function waitFinished(app: AtelierServer, id: string, timeoutMs = 20_000): Promise<Record<string, any>> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const job = (await app.inject({ url: `/api/jobs/${id}` })).json();
    if (['done', 'failed', 'cancelled'].includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`job ${id} did not finish within ${timeoutMs} ms`);
}

/** Poll until a job is running. */
export async function waitRunning(app: AtelierServer, id: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await app.inject({ url: `/api/jobs/${id}` })).json().status === 'running') return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`job ${id} did not start within ${timeoutMs} ms`);
}

/** Parse a server-sent events body into (event, data) pairs. */
export function parseSse(body: string): { event: string; data: any }[] {
  const out: { event: string; data: any }[] = [];
  for (const block of body.split('\n\n')) {
    const event = /^event: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    if (event && data) out.push({ event, data: JSON.parse(data) });
  }
  return out;
}
