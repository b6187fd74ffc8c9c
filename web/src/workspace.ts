/**
 * The workspace a reload brings back: method, parameters, where each input came from and the job
 * on screen. It lives in the URL (so it can be bookmarked or shared with someone on the same
 * server) and in localStorage (so opening the studio again resumes). Inputs are remembered by
 * reference: a shipped sample, or a stored input of a job; a file picked and not yet run is kept in
 * the browser instead (picked-files.ts).
 */

export type InputRef = { sample: string; url: string } | { job: string; slot: string };

export type ViewMode = 'compare' | 'side' | 'after' | 'mask';

export interface Workspace {
  method?: string;
  params: Record<string, unknown>;
  inputs: Record<string, InputRef[]>;
  job?: string;
  view?: ViewMode;
  mask?: boolean;
}

const KEY = 'atelier.workspace';

export function loadWorkspace(): Workspace {
  const q = new URLSearchParams(location.search);
  const fromUrl = q.get('w');
  for (const text of [fromUrl, localStorage.getItem(KEY)]) {
    if (!text) continue;
    try {
      const w = JSON.parse(text) as Partial<Workspace>;
      if (typeof w === 'object' && w) return { params: {}, inputs: {}, ...w };
    } catch {
      // a hand-edited or old value: start clean
    }
  }
  return { params: {}, inputs: {} };
}

export function saveWorkspace(w: Workspace): void {
  const text = JSON.stringify(w);
  localStorage.setItem(KEY, text);
  const url = new URL(location.href);
  url.searchParams.set('w', text);
  history.replaceState(null, '', url);
}

/** Ids the user pinned in the history, kept in this browser. */
export const pins = {
  get: (): string[] => {
    try {
      return JSON.parse(localStorage.getItem('atelier.pins') ?? '[]') as string[];
    } catch {
      return [];
    }
  },
  set: (ids: string[]) => localStorage.setItem('atelier.pins', JSON.stringify(ids)),
};
