import type { ProgressEvent, ProgressListener } from '../core/progress.js';
import { TimeLeft } from '../core/time-left.js';

/**
 * Progress on the terminal: a redrawn bar when stderr is a TTY, plain lines otherwise (at most one
 * per 10 % or per 2 s, so logs stay short), nothing with --quiet.
 */
export interface ProgressDisplay {
  listener: ProgressListener;
  /** Clear the bar line, if one is drawn. */
  finish(): void;
}

export function createProgressDisplay(stream: NodeJS.WriteStream, mode: 'bar' | 'lines' | 'quiet'): ProgressDisplay {
  if (mode === 'quiet') return { listener: () => {}, finish() {} };
  const rate = new FrameRate();
  if (mode === 'bar') {
    let drawn = false;
    const left = new TimeLeft(Date.now());
    return {
      listener(e) {
        if (e.type === 'error') return;
        const width = 28;
        const filled = Math.round(e.fraction * width);
        const eta = e.type === 'frame' ? rate.text(e.frame, e.total) : etaText(left.shown(e, Date.now()));
        const line = `${e.label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${(e.fraction * 100).toFixed(0).padStart(3)}%${spaced(detail(e))}${eta}`;
        // A terminal that reports no width (0: a pty without a window, as under `script`) gets the default.
        const cols = stream.columns || 100;
        stream.write(`\r${line.slice(0, cols - 1).padEnd(Math.min(cols - 1, line.length + 8))}`);
        drawn = true;
        if (e.type === 'done') {
          stream.write('\n');
          drawn = false;
        }
      },
      finish() {
        if (drawn) stream.write('\n');
        drawn = false;
      },
    };
  }
  let lastFraction = -1;
  let lastTime = 0;
  const left = new TimeLeft(Date.now());
  return {
    listener(e) {
      const now = Date.now();
      // Every event moves the estimate's clock, also those not printed.
      const leftMs = e.type === 'frame' ? undefined : left.shown(e, now);
      const milestone = e.type === 'start' || e.type === 'done' || e.type === 'error';
      if (!milestone && e.fraction - lastFraction < 0.1 && now - lastTime < 2000) return;
      lastFraction = e.fraction;
      lastTime = now;
      if (e.type === 'error') return; // the error itself is printed by the command
      const eta = e.type === 'frame' ? rate.text(e.frame, e.total) : etaText(leftMs);
      stream.write(`${e.label}: ${(e.fraction * 100).toFixed(0)}%${spaced(detail(e))}${eta}\n`);
    },
    finish() {},
  };
}

function spaced(text: string): string {
  return text ? ` ${text}` : '';
}

function detail(e: ProgressEvent): string {
  switch (e.type) {
    case 'start':
      return 'started';
    case 'step': {
      const values = e.values
        ? ' ' + Object.entries(e.values).map(([k, v]) => `${k}=${formatNumber(v)}`).join(' ')
        : '';
      // A phase that reports a share of itself (step 0.37 of 1) is said by the percentage alone.
      return `${Number.isInteger(e.step) && Number.isInteger(e.total) ? `step ${e.step}/${e.total}` : ''}${values}`.trim();
    }
    case 'frame':
      return `frame ${e.frame}/${e.total}`;
    case 'download':
      return `${(e.received / 1e6).toFixed(1)}${e.total ? '/' + (e.total / 1e6).toFixed(1) : ''} MB`;
    case 'done':
      return `done in ${(e.elapsedMs / 1000).toFixed(1)} s`;
    case 'error':
      return e.message;
  }
}

/**
 * Frames per second and time left for video runs, counted from the first frame this run made (a
 * resumed run starts part-way, so the overall fraction would mislead).
 */
class FrameRate {
  private first: { frame: number; at: number } | undefined;

  text(frame: number, total: number): string {
    const now = Date.now();
    if (!this.first) {
      this.first = { frame: frame - 1, at: now };
      return '';
    }
    const seconds = (now - this.first.at) / 1000;
    const done = frame - this.first.frame - 1;
    if (seconds <= 0 || done <= 0) return '';
    const fps = done / seconds;
    const left = (total - frame) / fps;
    return ` ${fps >= 1 ? fps.toFixed(1) : fps.toFixed(2)} fps${left >= 1 ? ` ETA ${left < 90 ? left.toFixed(0) + ' s' : (left / 60).toFixed(1) + ' min'}` : ''}`;
  }
}

function etaText(leftMs: number | undefined): string {
  if (leftMs === undefined) return '';
  const left = leftMs / 1000;
  return left >= 1 ? ` ETA ${left < 90 ? left.toFixed(0) + ' s' : (left / 60).toFixed(1) + ' min'}` : '';
}

function formatNumber(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  return Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(2) : v.toFixed(3);
}
