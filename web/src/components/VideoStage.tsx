import { useEffect, useState } from 'preact/hooks';
import { api, type Job } from '../api';
import { downloadResult } from './History';

/**
 * The stage for video jobs. While one runs: the latest finished frame (GET /api/jobs/ID/preview,
 * fetched about once a second with the token), so the user sees the look before the end. When it
 * is done: the result in a <video> player, with its download.
 */

const PREVIEW_EVERY_MS = 1000;

export function VideoPreview({ job }: { job: Job }) {
  const [url, setUrl] = useState<string>();
  const [frame, setFrame] = useState(0);
  useEffect(() => {
    if (!job.links.preview) return;
    let stopped = false;
    let current: string | undefined;
    const tick = async () => {
      try {
        const blob = await api.blob(job.links.preview!);
        if (stopped) return;
        const next = URL.createObjectURL(blob);
        setUrl(next);
        setFrame((n) => n + 1);
        if (current) URL.revokeObjectURL(current);
        current = next;
      } catch {
        // No frame finished yet (404): try again at the next tick.
      }
    };
    void tick();
    const t = setInterval(() => void tick(), PREVIEW_EVERY_MS);
    return () => {
      stopped = true;
      clearInterval(t);
      if (current) URL.revokeObjectURL(current);
    };
  }, [job.id, job.links.preview]);
  if (!url) return null;
  return <img class="stage-frame" src={url} alt={`latest finished frame of the video (preview ${frame})`} data-preview-count={frame} />;
}

export function VideoResult({ job, url, title }: { job: Job; url: string; title: string }) {
  const meta = job.meta ?? {};
  return (
    <div class="video-result">
      <video src={url} controls loop playsInline preload="auto" aria-label={`result video: ${title}`} />
      <div class="video-facts">
        <span>
          {title}
          {meta.frames !== undefined && ` · ${String(meta.frames)} frames`}
          {meta.width !== undefined && ` · ${String(meta.width)}×${String(meta.height)}`}
          {meta.temporal !== undefined && ` · temporal ${String(meta.temporal)}`}
          {job.timings?.totalMs !== undefined && ` · ${(job.timings.totalMs / 1000).toFixed(1)} s`}
        </span>
        <button type="button" class="small" onClick={() => void downloadResult(job)}>
          Download MP4
        </button>
      </div>
    </div>
  );
}
