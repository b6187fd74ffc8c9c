import type { ServerConfig } from './api';

/**
 * Check a chosen clip before uploading it: a video type, its bytes, and — read from the clip's
 * own metadata by the browser — its duration and frame size against the server's limits. The
 * server probes it again with ffprobe (it also takes containers this browser cannot play); when
 * the browser cannot read the metadata the clip is let through for the server to judge.
 */
export async function checkVideoFile(file: File, limits: ServerConfig['limits'] | undefined): Promise<string | undefined> {
  if (file.type && !file.type.startsWith('video/')) return `${file.name} is ${file.type}, not a video: choose a clip (.mp4, .webm, .mov, …)`;
  if (!limits) return undefined;
  if (file.size > limits.maxFileBytes) {
    return `${file.name} is ${mb(file.size)}; the server takes at most ${mb(limits.maxFileBytes)} per file: trim or recompress it`;
  }
  const info = await videoInfo(file);
  if (!info) return undefined;
  if (limits.maxVideoSeconds !== undefined && info.duration > limits.maxVideoSeconds) {
    return `${file.name} lasts ${Math.round(info.duration)} s; the server takes clips up to ${limits.maxVideoSeconds} s: trim it first`;
  }
  const pixels = info.width * info.height;
  if (limits.maxVideoPixels !== undefined && pixels > limits.maxVideoPixels) {
    return `${file.name} is ${info.width}×${info.height}; the server takes frames up to ${(limits.maxVideoPixels / 1e6).toFixed(1)} MP: scale it down first`;
  }
  return undefined;
}

/** Duration and frame size from the browser's own reading of the clip, or undefined if it cannot. */
function videoInfo(file: File): Promise<{ duration: number; width: number; height: number } | undefined> {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(file);
    const v = document.createElement('video');
    v.preload = 'metadata';
    v.muted = true;
    const done = (info: { duration: number; width: number; height: number } | undefined) => {
      clearTimeout(timer);
      v.removeAttribute('src');
      URL.revokeObjectURL(url);
      resolve(info);
    };
    const timer = setTimeout(() => done(undefined), 5000);
    v.onloadedmetadata = () => done(Number.isFinite(v.duration) ? { duration: v.duration, width: v.videoWidth, height: v.videoHeight } : undefined);
    v.onerror = () => done(undefined);
    v.src = url;
  });
}

function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0)} MiB`;
}
