import { useEffect, useState } from 'preact/hooks';
import { api, type Job } from '../api';

function Thumb({ job }: { job: Job }) {
  const [url, setUrl] = useState<string>();
  useEffect(() => {
    if (!job.links.result) return;
    let u: string | undefined;
    let live = true;
    api.imageUrl(job.links.result).then(
      (x) => (live ? setUrl((u = x)) : URL.revokeObjectURL(x)),
      () => {},
    );
    return () => {
      live = false;
      if (u) URL.revokeObjectURL(u);
    };
  }, [job.links.result]);
  return url ? <img src={url} alt={`result of ${job.method}`} loading="lazy" /> : <span class={`thumb-status ${job.status}`}>{job.status}</span>;
}

/** Save a result; fetched first so the bearer token goes along. */
export async function downloadResult(job: Job): Promise<void> {
  const url = await api.imageUrl(`${job.links.result!}?download=1`);
  const a = document.createElement('a');
  a.href = url;
  a.download = `atelier-${job.method}-${job.id.slice(0, 8)}.png`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The server's job history, newest first, with open, re-run and download. */
export function History({ jobs, more, onMore, onOpen, onRerun }: { jobs: Job[]; more: boolean; onMore: () => void; onOpen: (j: Job) => void; onRerun: (j: Job) => void }) {
  if (jobs.length === 0) return <p class="muted">No jobs yet: results appear here.</p>;
  return (
    <>
      <ul class="history">
        {jobs.map((j) => (
          <li key={j.id} class={`history-item ${j.status}`} data-job={j.id}>
            <button type="button" class="thumb" onClick={() => onOpen(j)} aria-label={`open ${j.method} job`}>
              <Thumb job={j} />
            </button>
            <div class="history-meta">
              <strong>{j.method}</strong>
              <small>
                {new Date(j.createdAt).toLocaleTimeString()} · {j.status}
              </small>
            </div>
            <div class="history-actions">
              <button type="button" class="small" onClick={() => onRerun(j)}>
                Re-run
              </button>
              {j.links.result && (
                <button type="button" class="small" onClick={() => void downloadResult(j)}>
                  Download
                </button>
              )}
            </div>
          </li>
        ))}
      </ul>
      {more && (
        <button type="button" class="link" onClick={onMore}>
          Older jobs
        </button>
      )}
    </>
  );
}
