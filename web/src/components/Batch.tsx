import type { Job, MethodInfo } from '../api';
import { saveBlob } from './History';
import { api } from '../api';

/**
 * A batch: every content × every style × every chosen method, submitted one after the other and
 * shown as a grid that fills in as jobs finish; once all are done the results download as one zip.
 */

export const MAX_BATCH = 24;

export function batchSize(contents: number, styles: number, methods: number): number {
  return Math.max(1, contents) * Math.max(1, styles) * Math.max(1, methods);
}

export function BatchGrid({ jobs, titles, thumbs, onOpen }: { jobs: Job[]; titles: Record<string, string>; thumbs: Record<string, string>; onOpen: (j: Job) => void }) {
  const done = jobs.filter((j) => j.status === 'done');
  const finished = jobs.every((j) => j.status === 'done' || j.status === 'failed' || j.status === 'cancelled');
  return (
    <div class="batch">
      <div class="batch-head">
        <strong>
          Batch: {done.length} of {jobs.length} done
        </strong>
        <button type="button" class="small" disabled={!finished || done.length === 0} onClick={() => void api.zip(done.map((j) => j.id)).then((b) => saveBlob(b, `atelier-batch-${done.length}.zip`))}>
          Download zip ({done.length})
        </button>
      </div>
      <ul class="batch-grid">
        {jobs.map((j, i) => (
          <li key={j.id} data-job={j.id} data-status={j.status}>
            <button type="button" class="thumb" onClick={() => onOpen(j)} aria-label={`open batch result ${i + 1}: ${titles[j.method] ?? j.method}, ${j.status}`}>
              {thumbs[j.id] ? <img src={thumbs[j.id]} alt="" /> : <span class={`thumb-status ${j.status}`}>{j.status}</span>}
            </button>
            <small>
              {i + 1}. {titles[j.method] ?? j.method}
              {j.status === 'failed' && j.error && <span class="error-text"> · {j.error.message}</span>}
            </small>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function BatchMethods({ methods, current, chosen, onChange }: { methods: MethodInfo[]; current: MethodInfo; chosen: string[]; onChange: (ids: string[]) => void }) {
  // Methods that take the same kinds of input as the current one can run on the same images.
  const compatible = methods.filter((m) => m.id !== current.id && m.inputs.style === current.inputs.style && !m.inputs.extra && !current.inputs.extra);
  if (compatible.length === 0) return null;
  return (
    <fieldset class="batch-methods">
      <legend>Also run with (defaults)</legend>
      {compatible.map((m) => (
        <label key={m.id}>
          <input type="checkbox" checked={chosen.includes(m.id)} onChange={(e) => onChange((e.target as HTMLInputElement).checked ? [...chosen, m.id] : chosen.filter((x) => x !== m.id))} />
          {m.title}
        </label>
      ))}
    </fieldset>
  );
}
