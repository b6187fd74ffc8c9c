import { useEffect, useState } from 'preact/hooks';
import { api, type Job } from '../api';

/**
 * The job history as cards: the result (or the state), the method, the parameters that differ
 * from the defaults, when and how long, and the outcome with a failure's reason. A click restores
 * the job's settings and result; cards can be pinned (kept first, in this browser), two can be
 * compared, running ones cancelled.
 */

function Thumb({ job }: { job: Job }) {
  const [url, setUrl] = useState<string>();
  // A video's card shows its last finished frame (an <img> cannot show the MP4).
  const picture = job.links.result && (job.kind === 'video' ? job.links.preview : job.links.result);
  useEffect(() => {
    if (!picture) return;
    let u: string | undefined;
    let live = true;
    api.imageUrl(picture).then(
      (x) => (live ? setUrl((u = x)) : URL.revokeObjectURL(x)),
      () => {},
    );
    return () => {
      live = false;
      if (u) URL.revokeObjectURL(u);
    };
  }, [picture]);
  return url ? <img src={url} alt="" loading="lazy" /> : <span class={`thumb-status ${job.status}`}>{thumbText(job)}</span>;
}

/** The state a card's thumbnail shows until it has a picture; the card's name starts with it (what is seen is what is read). */
function thumbText(job: Job): string {
  return job.status === 'running' ? `running ${Math.round((job.progress ?? 0) * 100)} %` : job.status;
}

/** Save a result; fetched first so the bearer token goes along. */
export async function downloadResult(job: Job): Promise<void> {
  saveBlob(await api.blob(`${job.links.result!}?download=1`), `atelier-${job.method}-${job.id.slice(0, 8)}.${job.kind === 'video' ? 'mp4' : 'png'}`);
}

export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function paramSummary(params: Record<string, unknown>): string {
  const parts = Object.entries(params).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join('/') : typeof v === 'number' ? Number(v.toPrecision(3)) : String(v)}`);
  return parts.length === 0 ? 'defaults' : parts.slice(0, 3).join(' · ') + (parts.length > 3 ? ` · +${parts.length - 3}` : '');
}

function duration(job: Job): string | undefined {
  const ms = job.timings?.totalMs ?? (job.finishedAt ? Date.parse(job.finishedAt) - Date.parse(job.createdAt) : undefined);
  if (ms === undefined) return undefined;
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export interface HistoryProps {
  jobs: Job[];
  titles: Record<string, string>;
  current?: string;
  pinned: string[];
  comparing: string[];
  more: boolean;
  onMore: () => void;
  onOpen: (j: Job) => void;
  onPin: (j: Job) => void;
  onCompare: (j: Job) => void;
  onCancel: (j: Job) => void;
  onDelete: (j: Job) => void;
}

/** Delete asks once more inline: a second click within a few seconds deletes. */
function DeleteButton({ job, onDelete }: { job: Job; onDelete: (j: Job) => void }) {
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    if (!armed) return;
    const t = setTimeout(() => setArmed(false), 4000);
    return () => clearTimeout(t);
  }, [armed]);
  return (
    <button type="button" class={`small${armed ? ' danger' : ''}`} onClick={() => (armed ? onDelete(job) : setArmed(true))} aria-label={armed ? 'confirm delete' : 'delete job'}>
      {armed ? (
        'Delete?'
      ) : (
        // Drawn, not an emoji: a font without one showed an empty box.
        <svg class="icon" viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" focusable="false">
          <path d="M3 4h10M6.5 4V2.5h3V4M4.5 4l.7 9.5h5.6l.7-9.5M7 6.5v5M9 6.5v5" fill="none" stroke="currentColor" stroke-width="1.4" stroke-linecap="round" stroke-linejoin="round" />
        </svg>
      )}
    </button>
  );
}

export function History({ jobs, titles, current, pinned, comparing, more, onMore, onOpen, onPin, onCompare, onCancel, onDelete }: HistoryProps) {
  if (jobs.length === 0) return <p class="muted">No jobs yet: each run appears here, to reopen, compare or pin.</p>;
  const ordered = [...jobs.filter((j) => pinned.includes(j.id)), ...jobs.filter((j) => !pinned.includes(j.id))];
  return (
    <>
      <ul class="history">
        {ordered.map((j) => {
          const isPinned = pinned.includes(j.id);
          const live = j.status === 'queued' || j.status === 'running';
          const when = new Date(j.createdAt);
          return (
            <li key={j.id} class={`history-item ${j.status}${j.id === current ? ' current' : ''}${isPinned ? ' pinned' : ''}`} data-job={j.id} data-status={j.status}>
              <button type="button" class="thumb" onClick={() => onOpen(j)} aria-label={`${thumbText(j)}: restore ${titles[j.method] ?? j.method}, ${when.toLocaleTimeString()}`}>
                <Thumb job={j} />
              </button>
              <div class="history-meta">
                <strong>{titles[j.method] ?? j.method}</strong>
                <small class="history-params">{paramSummary(j.params)}</small>
                <small>
                  <time dateTime={j.createdAt}>{when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}</time>
                  {duration(j) && ` · ${duration(j)}`} · <span class={`state ${j.status}`}>{j.status}</span>
                </small>
                {j.status === 'failed' && j.error && <small class="error-text history-error">{j.error.message}</small>}
              </div>
              <div class="history-actions">
                <button type="button" class="small" aria-pressed={isPinned} onClick={() => onPin(j)} aria-label={isPinned ? 'unpin' : 'pin'} title={isPinned ? 'Unpin' : 'Pin: keep first'}>
                  {isPinned ? '★' : '☆'}
                </button>
                {j.links.result && j.kind !== 'video' && (
                  <button type="button" class="small" aria-pressed={comparing.includes(j.id)} onClick={() => onCompare(j)} title="Compare two results">
                    Compare
                  </button>
                )}
                {j.links.result && (
                  <button type="button" class="small" onClick={() => void downloadResult(j)} aria-label="download result">
                    ↓
                  </button>
                )}
                {live ? (
                  <button type="button" class="small" onClick={() => onCancel(j)}>
                    Cancel
                  </button>
                ) : (
                  <DeleteButton job={j} onDelete={onDelete} />
                )}
              </div>
            </li>
          );
        })}
      </ul>
      {more && (
        <button type="button" class="link" onClick={onMore}>
          Older jobs
        </button>
      )}
    </>
  );
}
