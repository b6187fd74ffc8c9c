import type { Job, ProgressEvent } from '../api';

/**
 * What a running job is doing, where the user is looking (over the result stage): the phase, the
 * step count, time spent and time left (from the rate so far), and for optimisation methods the
 * loss curve of the steps received. Finished badly, it says Cancelled or Failed and why.
 */

export interface LiveProgress {
  event?: ProgressEvent;
  startedAt: number;
  /**
   * When the last event at 0 % arrived: the run's start, or the end of a method's one-off setup
   * (it reports step 0 then). Time left counts from here, as the CLI's does (src/core/time-left.ts).
   */
  measuredFrom?: number;
  losses: number[];
}

function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

export function LossCurve({ losses }: { losses: number[] }) {
  if (losses.length < 2) return null;
  const logs = losses.map((l) => Math.log10(Math.max(l, 1e-12)));
  const lo = Math.min(...logs);
  const hi = Math.max(...logs);
  const W = 240;
  const H = 64;
  const pts = logs.map((v, i) => `${((i / (logs.length - 1)) * W).toFixed(1)},${(H - 4 - ((v - lo) / (hi - lo || 1)) * (H - 8)).toFixed(1)}`).join(' ');
  const last = losses.at(-1)!;
  return (
    <figure class="loss">
      <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={`loss over ${losses.length} steps, from ${losses[0]!.toPrecision(3)} to ${last.toPrecision(3)}`}>
        <polyline points={pts} fill="none" stroke="currentColor" stroke-width="2" />
      </svg>
      <figcaption>
        loss {last.toPrecision(3)} <span class="muted">(log scale, {losses.length} steps)</span>
      </figcaption>
    </figure>
  );
}

export function ProgressPanel({ job, title, live, now }: { job: Job; title: string; live: LiveProgress; now: number }) {
  const e = live.event;
  const fraction = e?.fraction ?? 0;
  const elapsed = now - live.startedAt;
  // Time left from the rate since the measured work started, once there is a rate worth trusting.
  const measured = now - (live.measuredFrom ?? live.startedAt);
  const left = job.status === 'running' && fraction > 0.03 && elapsed > 800 && fraction < 1 ? (measured * (1 - fraction)) / fraction : undefined;
  const pct = Math.round(fraction * 100);
  const detail =
    e?.type === 'step' && e.total && Number.isInteger(e.step) && Number.isInteger(e.total) ? `step ${e.step} of ${e.total}` : e?.type === 'frame' && e.total ? `frame ${e.frame} of ${e.total}` : e?.type === 'download' ? 'downloading weights' : undefined;
  return (
    <div class="progress" data-status={job.status} role="status" aria-live="polite">
      <div class="progress-head">
        <strong>{job.status === 'queued' ? `${title}: waiting in the queue` : job.status === 'running' ? (e && e.label !== job.method ? `${title}: ${e.label.startsWith(`${job.method} `) ? e.label.slice(job.method.length + 1) : e.label}` : `${title}: ${e ? 'running' : 'starting'}`) : job.status}</strong>
        <span class="progress-pct">{pct} %</span>
      </div>
      <div class="progress-track" role="progressbar" aria-label="job progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} aria-valuetext={`${pct} %${detail ? `, ${detail}` : ''}`}>
        <div class="progress-fill" style={{ width: `${fraction * 100}%` }} />
      </div>
      <div class="progress-facts">
        {detail && <span>{detail}</span>}
        <span>{seconds(elapsed)} elapsed</span>
        {left !== undefined && <span>about {seconds(left)} left</span>}
      </div>
      <LossCurve losses={live.losses} />
    </div>
  );
}

/** Cancelled or failed: which, and the server's reason. */
export function Outcome({ job }: { job: Job }) {
  if (job.status !== 'failed' && job.status !== 'cancelled') return null;
  return (
    // Focusable: a long reason scrolls inside the stage, and the keyboard must reach it.
    <div class={`outcome ${job.status}`} role="alert" tabIndex={0}>
      <strong>{job.status === 'cancelled' ? 'Cancelled' : 'Failed'}</strong>
      {job.status === 'failed' && job.error?.code === 'E_WEIGHTS_MISSING' ? (
        <>
          <p>
            <strong>A model these settings need is not installed.</strong> The Method panel lists what they need, with an Install button where this server can fetch it (all models are under Models); or choose random weights to try the method.
          </p>
          {/* The server's own words are for whoever runs it (commands, addresses): folded. */}
          <details class="outcome-details">
            <summary>What the server said</summary>
            <p class="outcome-message">{job.error.message}</p>
          </details>
        </>
      ) : (
        <p class="outcome-message">{job.status === 'cancelled' ? 'The job was stopped before it finished; nothing was kept.' : (job.error?.message ?? 'The job failed without a message.')}</p>
      )}
      {job.error?.code && job.status === 'failed' && <code>{job.error.code}</code>}
    </div>
  );
}
