import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, followJob, token, type ApiError, type Job, type MethodInfo, type ModelInfo, type Sample, type ServerConfig } from './api';
import { checkImageFile } from './check-image';
import { checkVideoFile } from './check-video';
import { BatchGrid, BatchMethods, MAX_BATCH, batchSize } from './components/Batch';
import { Dropzone } from './components/Dropzone';
import { History, downloadResult } from './components/History';
import { MaskPainter } from './components/MaskPainter';
import { MethodPicker } from './components/MethodPicker';
import { StyleBrowser, StyleGallery } from './components/StyleGallery';
import { ModelManager, ModelNeeds } from './components/Models';
import { humanise } from './param-names';
import { ParamForm, modelsNamedBy, neededModels, type ParamValues } from './components/ParamForm';
import { firstTrained, type OpenTrainer } from './components/TrainedModels';
import { TrainerPage } from './components/Trainer';
import { Outcome, ProgressPanel, type LiveProgress } from './components/ProgressPanel';
import { VideoPreview, VideoResult } from './components/VideoStage';
import { Viewer, type ViewerImages } from './components/Viewer';
import { pickedFiles } from './picked-files';
import { loadWorkspace, pins, saveWorkspace, type InputRef, type ViewMode, type Workspace } from './workspace';

/**
 * The studio. Everything about methods comes from GET /api/methods: the picker, the inputs each
 * method takes, the parameter form (Basic and Advanced), presets and style galleries. The result
 * is the centre of the page; the Run bar stays at the bottom of the screen; the workspace (method,
 * parameters, inputs, the job on screen) survives a reload.
 */

type Metrics = Record<string, { value: number; higherIsBetter: boolean; title: string }>;

interface Chosen {
  file: File;
  ref?: InputRef;
}

const LIVE: Job['status'][] = ['queued', 'running'];

/** The job's stored input slot that a form field's n-th file went to. */
function slotOf(field: string, index: number): string {
  if (field === 'style') return `style-${index}`;
  if (field === 'content' || field === 'mask') return field;
  return `extra-${field}`;
}

/** The form field a stored slot came from. */
function fieldOf(slot: string): string {
  if (slot.startsWith('style-')) return 'style';
  if (slot.startsWith('extra-')) return slot.slice('extra-'.length);
  return slot;
}

async function fileOf(ref: InputRef): Promise<File> {
  if ('sample' in ref) {
    const blob = await (await fetch(ref.url)).blob();
    return new File([blob], `${ref.sample}.jpg`, { type: blob.type || 'image/jpeg' });
  }
  const blob = await api.blob(`/api/jobs/${ref.job}/inputs/${ref.slot}`);
  // A stored clip comes back untyped (the server never lets the browser guess its type): name it plainly.
  if (ref.slot === 'video') return new File([blob], 'clip', { type: '' });
  return new File([blob], `${ref.slot}.${blob.type.split('/')[1] ?? 'png'}`, { type: blob.type });
}

export function App() {
  const initial = useMemo(loadWorkspace, []);
  const [methods, setMethods] = useState<MethodInfo[]>([]);
  const [config, setConfig] = useState<ServerConfig>();
  const [models, setModels] = useState<ModelInfo[]>([]);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [examples, setExamples] = useState<Record<string, { url: string }>>({});
  const [methodId, setMethodId] = useState<string | undefined>(initial.method);
  const [values, setValues] = useState<ParamValues>(initial.params);
  const [inputs, setInputs] = useState<Record<string, Chosen[]>>({});
  const [fileErrors, setFileErrors] = useState<Record<string, string>>({});
  const [useMask, setUseMask] = useState(initial.mask ?? false);
  const [mask, setMask] = useState<Blob | null>(null);
  const [job, setJob] = useState<Job>();
  const [live, setLive] = useState<LiveProgress>({ startedAt: Date.now(), losses: [] });
  const [now, setNow] = useState(Date.now());
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState<string>();
  const [images, setImages] = useState<ViewerImages>();
  // Video mode: a clip instead of a content image; the result plays in the stage.
  const [videoOn, setVideoOn] = useState(Boolean(initial.inputs.video?.length));
  const [videoUrl, setVideoUrl] = useState<string>();
  const [viewMode, setViewMode] = useState<ViewMode>(initial.view ?? 'compare');
  const [metrics, setMetrics] = useState<Metrics>();
  const [history, setHistory] = useState<Job[]>([]);
  const [historyPages, setHistoryPages] = useState({ page: 1, pages: 1 });
  const [pinned, setPinned] = useState<string[]>(pins.get());
  const [comparing, setComparing] = useState<string[]>([]);
  const [batchOn, setBatchOn] = useState(false);
  const [batchMethods, setBatchMethods] = useState<string[]>([]);
  const [batchJobs, setBatchJobs] = useState<Job[]>([]);
  const [batchThumbs, setBatchThumbs] = useState<Record<string, string>>({});
  const [showModels, setShowModels] = useState(false);
  const [browsingStyles, setBrowsingStyles] = useState(false);
  // The trainer is its own page (#train), so a reload and the back button keep it.
  const [page, setPage] = useState<'studio' | 'train'>(location.hash === '#train' ? 'train' : 'studio');
  useEffect(() => {
    const onHash = () => setPage(location.hash === '#train' ? 'train' : 'studio');
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const goTo = (next: 'studio' | 'train') => {
    window.history.pushState(null, '', next === 'train' ? '#train' : location.pathname + location.search);
    setPage(next);
  };
  // A form's "Train one": the trainer page opens on that recipe, with what the form holds (a LoRA's base).
  const [trainerStart, setTrainerStart] = useState<{ recipe: string; params: Record<string, unknown> }>();
  const openTrainer: OpenTrainer = (recipe, params) => {
    setTrainerStart({ recipe, params });
    goTo('train');
  };
  const [tokenText, setTokenText] = useState(token.get());
  const stopFollowing = useRef<(() => void) | undefined>(undefined);
  const runRef = useRef<() => void>(() => {});
  const pickedRead = useRef(false);

  const method = useMemo(() => methods.find((m) => m.id === methodId), [methods, methodId]);
  const titles = useMemo(() => Object.fromEntries(methods.map((m) => [m.id, m.title])), [methods]);
  const busy = job !== undefined && LIVE.includes(job.status);

  // The workspace follows every change: URL and localStorage.
  useEffect(() => {
    if (methods.length === 0) return;
    const refs: Record<string, InputRef[]> = {};
    for (const [field, list] of Object.entries(inputs)) {
      const r = list.map((c) => c.ref).filter((x): x is InputRef => x !== undefined);
      if (r.length === list.length && r.length > 0) refs[field] = r;
    }
    const w: Workspace = { method: methodId, params: values, inputs: refs, ...(job && { job: job.id }), view: viewMode, mask: useMask };
    saveWorkspace(w);
    // Files picked from disk and not yet stored by a job are kept in the browser until then
    // (not before the kept ones are read back at load).
    if (pickedRead.current) for (const field of new Set([...Object.keys(inputs), 'content', 'video', 'style'])) {
      const list = inputs[field] ?? [];
      void pickedFiles.put(field, list.some((c) => c.ref === undefined) ? list.map((c) => c.file) : []);
    }
  }, [methods, methodId, values, inputs, job?.id, viewMode, useMask]);

  const loadHistory = async (page = 1) => {
    const r = await api.jobs(page);
    setHistory((h) => (page === 1 ? [...r.jobs, ...h.filter((j) => pinned.includes(j.id) && !r.jobs.some((x) => x.id === j.id))] : [...h, ...r.jobs]));
    setHistoryPages({ page, pages: r.pages });
  };
  const loadModels = async () => setModels(await api.models());

  const setFiles = async (field: string, chosen: Chosen[]) => {
    setInputs((old) => ({ ...old, [field]: chosen }));
    const problems = await Promise.all(chosen.map((c) => (field === 'video' ? checkVideoFile : checkImageFile)(c.file, config?.limits)));
    const problem = problems.find(Boolean);
    setFileErrors((old) => {
      const next = { ...old };
      if (problem) next[field] = problem;
      else delete next[field];
      return next;
    });
  };

  const restoreInputs = async (refs: Record<string, InputRef[]>) => {
    const entries = await Promise.all(
      Object.entries(refs).map(async ([field, list]) => [field, await Promise.all(list.map(async (ref) => ({ file: await fileOf(ref), ref })))] as const),
    );
    const next: Record<string, Chosen[]> = {};
    for (const [field, list] of entries) next[field] = list;
    if (next.mask?.[0]) {
      setMask(next.mask[0].file);
      delete next.mask;
    }
    setInputs(next);
    setFileErrors({});
  };

  const show = async (j: Job) => {
    setMetrics(undefined);
    setVideoUrl((old) => (old && URL.revokeObjectURL(old), undefined));
    if (!j.links.result) return setImages(undefined);
    if (j.kind === 'video') {
      setImages(undefined);
      return setVideoUrl(await api.imageUrl(j.links.result));
    }
    const [before, after, maskUrl] = await Promise.all([
      api.imageUrl(j.links.inputs.content!),
      api.imageUrl(j.links.result),
      j.links.inputs.mask ? api.imageUrl(j.links.inputs.mask) : Promise.resolve(undefined),
    ]);
    setImages((old) => {
      if (old) [old.before, old.after, old.mask].forEach((u) => u && URL.revokeObjectURL(u));
      return { before, after, ...(maskUrl && { mask: maskUrl }) };
    });
  };

  const follow = (j: Job) => {
    stopFollowing.current?.();
    setJob(j);
    setImages(undefined);
    setVideoUrl(undefined);
    setLive({ startedAt: j.status === 'running' && j.startedAt ? Date.parse(j.startedAt) : Date.now(), losses: [] });
    stopFollowing.current = followJob(j.id, {
      progress: (e) =>
        setLive((l) => ({
          ...l,
          event: e,
          measuredFrom: e.fraction === 0 ? Date.now() : l.measuredFrom,
          losses: e.type === 'step' && e.values?.loss !== undefined && Number.isFinite(e.values.loss) ? [...l.losses, e.values.loss] : l.losses,
        })),
      status: (s) => {
        setJob(s);
        if (s.status === 'running' && s.startedAt) setLive((l) => ({ ...l, startedAt: Date.parse(s.startedAt!) }));
      },
      end: (done, err) => {
        void loadHistory();
        if (done) {
          setJob(done);
          setLive((l) => ({ ...l, event: { type: 'done', label: 'done', fraction: 1, elapsedMs: done.startedAt && done.finishedAt ? Date.parse(done.finishedAt) - Date.parse(done.startedAt) : 0 } }));
          void show(done);
        } else {
          setJob((cur) => cur && { ...cur, status: err?.code === 'E_ABORTED' || (err as { status?: string } | undefined)?.status === 'cancelled' ? 'cancelled' : 'failed', ...(err && { error: err }) });
        }
      },
    });
  };

  /** Open a job: its method, params and inputs come back, and its result or its progress. */
  const restore = async (j: Job) => {
    setComparing([]);
    setBatchJobs([]);
    setMethodId(j.method);
    setValues({ ...j.params });
    const refs: Record<string, InputRef[]> = {};
    for (const slot of j.inputs) (refs[fieldOf(slot)] ??= []).push({ job: j.id, slot });
    setUseMask(j.inputs.includes('mask'));
    setVideoOn(j.kind === 'video');
    void restoreInputs(refs).catch((e) => setError((e as Error).message));
    if (LIVE.includes(j.status)) follow(j);
    else {
      stopFollowing.current?.();
      setJob(j);
      await show(j);
    }
  };

  const load = async () => {
    try {
      const [list, cfg] = await Promise.all([api.methods(), api.config()]);
      setMethods(list);
      setConfig(cfg);
      setMethodId((id) => (id && list.some((m) => m.id === id) ? id : (list.find((m) => m.id === 'color.reinhard')?.id ?? list[0]?.id)));
      setError(undefined);
      void api.samples().then(setSamples, () => {});
      void api.examples().then(setExamples, () => {});
      void loadModels().catch(() => {});
      await loadHistory();
      // Pick up where the last visit left off: its inputs, and its job (running or finished).
      if (Object.keys(initial.inputs).length > 0) await restoreInputs(initial.inputs).catch(() => {});
      // ...and the files picked before a reload that no job has stored yet.
      const picked = await pickedFiles.all();
      pickedRead.current = true;
      const unstored = Object.entries(picked).filter(([field, files]) => files.length > 0 && !initial.inputs[field]);
      if (unstored.length > 0) {
        setInputs((old) => ({ ...old, ...Object.fromEntries(unstored.map(([field, files]) => [field, files.map((file) => ({ file }))])) }));
        if (picked.video?.length && !initial.inputs.content) setVideoOn(true);
      }
      if (initial.job) {
        const j = await api.job(initial.job).catch(() => undefined);
        if (j) {
          if (LIVE.includes(j.status)) follow(j);
          else {
            setJob(j);
            await show(j);
          }
        }
      }
    } catch (e) {
      setError((e as Error).message);
    }
  };
  useEffect(() => {
    void load();
    return () => stopFollowing.current?.();
  }, []);

  // A clock for elapsed / time left while something runs.
  useEffect(() => {
    if (!busy) return;
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [busy]);

  // Model installs: poll while one runs, then refresh the methods (their installed flags).
  const installing = models.some((m) => m.install?.state === 'running');
  useEffect(() => {
    if (!installing) return;
    const t = setInterval(() => {
      void api.models().then((next) => {
        setModels(next);
        if (!next.some((m) => m.install?.state === 'running')) void api.methods().then(setMethods);
      });
    }, 400);
    return () => clearInterval(t);
  }, [installing]);
  const install = async (name: string, accept: boolean, variants?: string[]) => {
    try {
      await api.installModel(name, accept, variants);
      await loadModels();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const cancelInstall = (name: string) => void api.cancelInstall(name).then(loadModels, (e) => setError((e as Error).message));

  const formFor = (m: MethodInfo, content: Chosen[], styles: Chosen[], params: ParamValues) => {
    const form = new FormData();
    form.append('method', m.id);
    form.append('params', JSON.stringify(Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined))));
    for (const c of content) form.append(videoOn ? 'video' : 'content', c.file);
    if (m.inputs.style !== 'none') for (const s of m.inputs.multiStyle ? styles : styles.slice(0, 1)) form.append('style', s.file);
    for (const [name] of Object.entries(m.inputs.extra ?? {})) for (const c of inputs[name] ?? []) form.append(name, c.file);
    if (useMask && mask) form.append('mask', mask, 'mask.png');
    return form;
  };

  const contents = (videoOn ? inputs.video : inputs.content) ?? [];
  const styles = inputs.style ?? [];
  const batchCount = batchOn && method ? batchSize(contents.length, method.inputs.style === 'none' ? 1 : styles.length, 1 + batchMethods.length) : 1;

  const missing = !method
    ? ['a method']
    : [
        ...(contents.length ? [] : [videoOn ? 'a video clip' : 'a content image']),
        ...(method.inputs.style === 'required' && !styles.length ? ['a style image'] : []),
        ...Object.entries(method.inputs.extra ?? {})
          .filter(([k, spec]) => spec.required && !inputs[k]?.length)
          .map(([k]) => k),
        ...(Object.keys(fileErrors).some((f) => f !== (videoOn ? 'content' : 'video')) ? [videoOn ? 'files the server accepts' : 'images the server accepts'] : []),
        ...(batchCount > MAX_BATCH ? [`at most ${MAX_BATCH} jobs in a batch`] : []),
        // A required param with no value and no default (a CycleGAN's model when none is trained).
        ...(method.params.required ?? []).filter((k) => (values[k] ?? method.params.properties[k]?.default ?? '') === '').map((k) => `a ${humanise(k).toLowerCase()}`),
      ];

  const run = async () => {
    if (!method || submitting || busy || missing.length > 0) return;
    setSubmitting(true);
    setError(undefined);
    try {
      if (batchOn) {
        const jobs: Job[] = [];
        const runMethods = [method, ...methods.filter((m) => batchMethods.includes(m.id))];
        const styleSets = method.inputs.style === 'none' || styles.length === 0 ? [[]] : styles.map((s) => [s]);
        for (const m of runMethods) for (const c of contents) for (const s of styleSets) jobs.push(await api.submit(formFor(m, [c], s, m.id === method.id ? values : {})));
        setBatchJobs(jobs);
        setImages(undefined);
        void loadHistory();
        return;
      }
      const j = await api.submit(formFor(method, contents.slice(0, 1), styles, values));
      setBatchJobs([]);
      setComparing([]);
      follow(j);
      // On a phone the stage is above the form: bring the progress into view.
      if (window.matchMedia('(max-width: 760px)').matches) document.querySelector('.stage-panel')?.scrollIntoView({ block: 'start' });
      // From now on the inputs are the job's stored copies: a reload brings them back.
      setInputs((old) => {
        const next: Record<string, Chosen[]> = {};
        for (const [field, list] of Object.entries(old)) next[field] = list.map((c, i) => ((j.inputs as readonly string[]).includes(slotOf(field, i)) ? { ...c, ref: { job: j.id, slot: slotOf(field, i) } } : c));
        return next;
      });
      void loadHistory();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setSubmitting(false);
    }
  };
  runRef.current = () => void run();

  // Ctrl/⌘+Enter runs from anywhere on the page.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        runRef.current();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  // Batch jobs: poll until each finishes, and fetch its thumbnail.
  useEffect(() => {
    if (batchJobs.length === 0 || batchJobs.every((j) => !LIVE.includes(j.status))) return;
    const t = setInterval(async () => {
      const next = await Promise.all(batchJobs.map((j) => (LIVE.includes(j.status) ? api.job(j.id) : j)));
      for (const j of next) if (j.links.result && !batchThumbs[j.id]) void api.imageUrl(j.links.result).then((u) => setBatchThumbs((t) => ({ ...t, [j.id]: u })));
      setBatchJobs(next);
      if (next.every((j) => !LIVE.includes(j.status))) void loadHistory();
    }, 500);
    return () => clearInterval(t);
  }, [batchJobs]);

  // Two history cards chosen: compare their results.
  const toggleCompare = async (j: Job) => {
    const next = comparing.includes(j.id) ? comparing.filter((x) => x !== j.id) : [...comparing, j.id].slice(-2);
    setComparing(next);
    if (next.length === 2) {
      const [a, b] = next.map((id) => history.find((h) => h.id === id)!);
      const [ua, ub] = await Promise.all([api.imageUrl(a!.links.result!), api.imageUrl(b!.links.result!)]);
      setBatchJobs([]);
      const label = (j: Job) => `${titles[j.method] ?? j.method} · ${new Date(j.createdAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })}`;
      setImages({ before: ua, after: ub, beforeLabel: label(a!), afterLabel: label(b!) });
      if (viewMode === 'after' || viewMode === 'mask') setViewMode('compare');
    }
  };

  const togglePin = (j: Job) => {
    const next = pinned.includes(j.id) ? pinned.filter((x) => x !== j.id) : [j.id, ...pinned];
    setPinned(next);
    pins.set(next);
  };

  // A time estimate for the Run bar: this method's earlier runs, per megapixel.
  const [contentPixels, setContentPixels] = useState<number>();
  useEffect(() => {
    const f = contents[0]?.file;
    if (!f) return setContentPixels(undefined);
    void createImageBitmap(f).then(
      (b) => {
        setContentPixels(b.width * b.height);
        b.close();
      },
      () => setContentPixels(undefined),
    );
  }, [contents[0]?.file]);
  const estimate = useMemo(() => {
    const rates = history
      .filter((h) => h.method === methodId && h.status === 'done' && h.timings?.totalMs !== undefined && typeof h.meta?.width === 'number')
      .map((h) => h.timings!.totalMs! / (Number(h.meta!.width) * Number(h.meta!.height)))
      .sort((a, b) => a - b);
    if (rates.length === 0 || !contentPixels) return undefined;
    const cap = method?.params.properties.maxSize?.default as number | undefined;
    const pixels = values.maxSize || cap ? Math.min(contentPixels, ((values.maxSize as number | undefined) ?? cap!) ** 2) : contentPixels;
    return { ms: rates[Math.floor(rates.length / 2)]! * pixels * batchCount, runs: rates.length };
  }, [history, methodId, contentPixels, values.maxSize, batchCount]);

  const needed = method ? neededModels(method, values) : [];
  const paramValue = (k: string) => values[k] ?? method?.params.properties[k]?.default;

  // Installed models first: a model with variants, while the form has not chosen one, takes an
  // installed variant (the default if installed), so that a model installed in another variant
  // runs without a change; a param naming a model does the same with the installed models.
  useEffect(() => {
    if (!method) return;
    const next: ParamValues = {};
    for (const w of method.weights) {
      const v = w.variantParam !== undefined ? models.find((m) => m.name === w.model)?.variants : undefined;
      if (!v || values[w.variantParam!] !== undefined || v.installed.length === 0) continue;
      const current = String(method.params.properties[w.variantParam!]?.default);
      if (!v.installed.includes(current)) next[w.variantParam!] = v.installed.includes(v.default) ? v.default : v.installed[0];
    }
    // A param that names a model, left at a default that is not installed, takes an installed one.
    for (const [k, p] of Object.entries(method.params.properties)) {
      const named = modelsNamedBy(method, k);
      if (named.length === 0 || values[k] !== undefined || k === 'weights') continue;
      const isInstalled = (name: unknown) => models.find((m) => m.name === name)?.installed ?? named.some((w) => w.model === name && w.installed);
      const first = named.find((w) => isInstalled(w.model));
      if (first && !isInstalled(p.default)) next[k] = first.model;
    }
    if (Object.keys(next).length > 0) setValues((old) => ({ ...old, ...next }));
    // A param naming a model made here takes the first installed one; a domain follows its model.
    setValues((old) => firstTrained(method, old));
  }, [method?.id, models, methods]);
  // While a job runs, its content shows dimmed on the stage: the result will take its place.
  const [preview, setPreview] = useState<string>();
  useEffect(() => {
    const f = contents[0]?.file;
    if (!f) return setPreview(undefined);
    const u = URL.createObjectURL(f);
    setPreview(u);
    return () => URL.revokeObjectURL(u);
  }, [contents[0]?.file]);
  // To the top of the layout, where the stage starts: scrolling a sticky stage itself into view
  // leaves it where the end of the layout pushed it (its tools cut off at the top).
  const toStage = () => document.querySelector('main.layout')?.scrollIntoView({ block: 'start' });
  const stageJob = batchJobs.length === 0 && comparing.length < 2 ? job : undefined;

  return (
    <div class="studio">
      <header class="topbar">
        <h1>
          Atelier <span>studio</span>
        </h1>
        <nav class="topnav" aria-label="studio">
          <button type="button" class="small" aria-current={page === 'train' ? 'page' : undefined} onClick={() => (setTrainerStart(undefined), goTo(page === 'train' ? 'studio' : 'train'))}>
            {page === 'train' ? 'Studio' : 'Train a model'}
          </button>
          <button type="button" class="small" onClick={() => setShowModels(true)}>
            Models{models.length > 0 && ` (${models.filter((m) => m.installed).length}/${models.length})`}
          </button>
          <details class="settings">
            <summary>Settings</summary>
            <form
              onSubmit={(e) => {
                e.preventDefault();
                token.set(tokenText.trim());
                void load();
              }}
            >
              <label>
                API token <input type="password" value={tokenText} onInput={(e) => setTokenText((e.target as HTMLInputElement).value)} placeholder="only if the server uses --token" />
              </label>
              <button type="submit" class="small">
                Save
              </button>
            </form>
          </details>
        </nav>
      </header>

      {error && (
        <div class="alert" role="alert">
          {error}
          <button type="button" class="link" onClick={() => setError(undefined)}>
            Dismiss
          </button>
        </div>
      )}

      {page === 'train' ? (
        <TrainerPage
          samples={samples}
          {...(trainerStart && { start: trainerStart })}
          {...(config && { config })}
          onTrained={() => void loadModels()}
          onUse={(id, params) => {
            // The new model is a choice of the method's weights once the methods are fetched again.
            void api.methods().then(setMethods);
            void loadModels();
            // A param that takes a list (a LoRA stack) gets a list of one.
            const props = methods.find((m) => m.id === id)?.params.properties ?? {};
            setMethodId(id);
            setValues(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, props[k]?.type === 'array' && !Array.isArray(v) ? [v] : v])));
            goTo('studio');
          }}
        />
      ) : (
      <>
      <main class="layout">
        <section class="stage-panel" aria-labelledby="h-result">
          <h2 id="h-result" class="visually-hidden">
            Result
          </h2>
          <div class="stage">
            {batchJobs.length > 0 ? (
              <BatchGrid jobs={batchJobs} titles={titles} thumbs={batchThumbs} onOpen={(j) => void restore(j)} />
            ) : images ? (
              <Viewer images={images} mode={viewMode} onMode={setViewMode} />
            ) : videoUrl && stageJob?.kind === 'video' && stageJob.status === 'done' ? (
              <VideoResult job={stageJob} url={videoUrl} title={titles[stageJob.method] ?? stageJob.method} />
            ) : (
              <div class="placeholder">
                {stageJob && LIVE.includes(stageJob.status) && preview && !videoOn && <img class="stage-preview" src={preview} alt="" />}
                {stageJob?.kind === 'video' && LIVE.includes(stageJob.status) && <VideoPreview job={stageJob} />}
                {stageJob && stageJob.status !== 'done' ? null : (
                  <p>
                    Choose a content image (or a sample) and a method, then <strong>Run</strong> (Ctrl/⌘+Enter). The result appears here, fitted to the screen, with a before/after slider.
                  </p>
                )}
              </div>
            )}
            {stageJob && LIVE.includes(stageJob.status) && (
              <div class="stage-overlay">
                <ProgressPanel job={stageJob} title={titles[stageJob.method] ?? stageJob.method} live={live} now={now} />
              </div>
            )}
            {stageJob && !images && (stageJob.status === 'failed' || stageJob.status === 'cancelled') && (
              <div class="stage-overlay">
                <Outcome job={stageJob} />
              </div>
            )}
          </div>
          {images && stageJob?.status === 'done' && (
            <div class="result-actions">
              <span class="muted">
                {titles[stageJob.method] ?? stageJob.method}
                {stageJob.timings?.totalMs !== undefined && ` · ${(stageJob.timings.totalMs / 1000).toFixed(2)} s`}
                {stageJob.meta?.width !== undefined && ` · ${String(stageJob.meta.width)}×${String(stageJob.meta.height)}`}
              </span>
              <button type="button" class="small" onClick={() => void downloadResult(stageJob)}>
                Download
              </button>
              <button type="button" class="small" onClick={() => void api.evaluate(stageJob.id).then((r) => setMetrics(r.metrics), (e) => setError((e as Error).message))}>
                Metrics
              </button>
              {metrics && (
                <table class="metrics">
                  <tbody>
                    {Object.entries(metrics).map(([id, m]) => (
                      <tr key={id}>
                        <th scope="row">{id.toUpperCase()}</th>
                        <td title={m.higherIsBetter ? 'higher is better' : 'lower is better'}>
                          {Number(m.value.toPrecision(4))} <span class="muted">{m.higherIsBetter ? '↑' : '↓'}</span>
                        </td>
                        <td class="muted">{m.title}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </div>
          )}
          {comparing.length === 2 && (
            <p class="muted compare-note">
              Comparing two results from the history.{' '}
              <button type="button" class="link" onClick={() => (setComparing([]), job ? void show(job) : setImages(undefined))}>
                Stop comparing
              </button>
            </p>
          )}
        </section>

        <div class="controls">
          <section class="panel" aria-labelledby="h-images">
            <div class="panel-head">
              <h2 id="h-images">Images</h2>
              <div class="panel-switches">
                <label class="switch">
                  <input
                    type="checkbox"
                    checked={videoOn}
                    onChange={(e) => {
                      const on = (e.target as HTMLInputElement).checked;
                      setVideoOn(on);
                      if (on) setBatchOn(false);
                    }}
                  />
                  <span class="switch-track" aria-hidden="true" />
                  <span>Video</span>
                </label>
                <label class="switch">
                  <input type="checkbox" checked={batchOn} disabled={videoOn} onChange={(e) => setBatchOn((e.target as HTMLInputElement).checked)} />
                  <span class="switch-track" aria-hidden="true" />
                  <span>Batch</span>
                </label>
              </div>
            </div>
            <div class="dropzones">
              {videoOn ? (
                <Dropzone
                  name="video"
                  label="Clip"
                  accept="video/*"
                  hint={`drop a clip or click (up to ${Math.round((config?.limits.maxVideoSeconds ?? 600) / 60)} min)`}
                  files={contents.map((c) => c.file)}
                  error={fileErrors.video}
                  onFiles={(f) => void setFiles('video', f.slice(0, 1).map((file) => ({ file })))}
                />
              ) : (
              <Dropzone
                name="content"
                label={batchOn ? 'Contents' : 'Content'}
                multiple={batchOn}
                files={contents.map((c) => c.file)}
                error={fileErrors.content}
                samples={samples.filter((s) => s.kind === 'content')}
                onFiles={(f) => void setFiles('content', f.map((file) => ({ file })))}
                onSample={(s) => void fileOf({ sample: s.id, url: s.url }).then((file) => setFiles('content', [...(batchOn ? contents : []), { file, ref: { sample: s.id, url: s.url } }]))}
              />
              )}
              {method?.inputs.style !== 'none' && (
                <Dropzone
                  name="style"
                  label={`Style${method?.inputs.multiStyle || batchOn ? 's' : ''}${method?.inputs.style === 'optional' ? ' (optional)' : ''}`}
                  multiple={(method?.inputs.multiStyle ?? false) || batchOn}
                  files={styles.map((c) => c.file)}
                  error={fileErrors.style}
                  samples={samples.filter((s) => s.kind === 'style')}
                  onFiles={(f) => void setFiles('style', f.map((file) => ({ file })))}
                  onSample={(s) =>
                    void fileOf({ sample: s.id, url: s.url }).then((file) => setFiles('style', [...(batchOn || method?.inputs.multiStyle ? styles : []), { file, ref: { sample: s.id, url: s.url } }]))
                  }
                />
              )}
              {Object.entries(method?.inputs.extra ?? {}).map(([name, spec]) => (
                <Dropzone
                  key={name}
                  name={name}
                  label={spec.required ? name : `${name} (optional)`}
                  hint={spec.description}
                  files={(inputs[name] ?? []).map((c) => c.file)}
                  error={fileErrors[name]}
                  onFiles={(f) => void setFiles(name, f.map((file) => ({ file })))}
                />
              ))}
            </div>
            {batchOn && method && <BatchMethods methods={methods} current={method} chosen={batchMethods} onChange={setBatchMethods} />}
            {contents[0] && !batchOn && !videoOn && (
              <div class="mask-section">
                <label class="switch">
                  <input type="checkbox" checked={useMask} onChange={(e) => setUseMask((e.target as HTMLInputElement).checked)} />
                  <span class="switch-track" aria-hidden="true" />
                  <span>Paint a mask (region control)</span>
                </label>
                {useMask && <MaskPainter content={contents[0].file} onMask={setMask} />}
              </div>
            )}
          </section>

          <section class="panel" aria-labelledby="h-method">
            <h2 id="h-method">Method</h2>
            <MethodPicker
              methods={methods}
              value={methodId}
              examples={examples}
              styles={{ open: browsingStyles, toggle: () => setBrowsingStyles((b) => !b) }}
              onChange={(id) => {
                setMethodId(id);
                setValues({});
                // A failed or cancelled job's card belongs to the old settings: clear the stage.
                if (job && (job.status === 'failed' || job.status === 'cancelled')) setJob(undefined);
              }}
            />
            {browsingStyles && (
              <StyleBrowser
                methods={methods}
                models={models}
                install={install}
                cancel={cancelInstall}
                current={{ method: methodId, value: method?.styleGallery ? paramValue(method.styleGallery.param) : undefined }}
                onPick={(m, v) => {
                  // The method and its style in one pick: the rest of the form starts from its defaults.
                  setMethodId(m.id);
                  setValues({ [m.styleGallery!.param]: v });
                  setBrowsingStyles(false);
                  if (job && (job.status === 'failed' || job.status === 'cancelled')) setJob(undefined);
                }}
              />
            )}
            {method && <ModelNeeds needed={needed} models={models} install={install} cancel={cancelInstall} onManage={() => setShowModels(true)} paramValue={paramValue} />}
            {method?.styleGallery && (
              <StyleGallery
                key={method.id}
                method={method}
                value={paramValue(method.styleGallery.param)}
                models={models}
                install={install}
                cancel={cancelInstall}
                onPick={(v) => setValues({ ...values, [method.styleGallery!.param]: v })}
              />
            )}
            {method && <ParamForm method={method} values={values} onChange={setValues} models={{ models, install, cancel: cancelInstall, openTrainer }} />}
          </section>
        </div>
      </main>

      <section class="panel history-panel" aria-labelledby="h-history">
        <h2 id="h-history">History</h2>
        <History
          jobs={history}
          titles={titles}
          current={job?.id}
          pinned={pinned}
          comparing={comparing}
          more={historyPages.page < historyPages.pages}
          onMore={() => void loadHistory(historyPages.page + 1)}
          onOpen={(j) => {
            // A training opens on the trainer page, where its losses and previews are.
            if (j.kind === 'training') {
              localStorage.setItem('atelier.training', j.id);
              return goTo('train');
            }
            toStage();
            void restore(j);
          }}
          onPin={togglePin}
          onCompare={(j) => {
            if (comparing.length === 1 && !comparing.includes(j.id)) toStage();
            void toggleCompare(j);
          }}
          onCancel={(j) => void api.cancel(j.id).then(() => loadHistory(), (e) => setError((e as Error).message))}
          onDelete={(j) =>
            void api.remove(j.id).then(
              () => {
                setHistory((h) => h.filter((x) => x.id !== j.id));
                setComparing((c) => c.filter((x) => x !== j.id));
                if (pinned.includes(j.id)) togglePin(j);
                if (job?.id === j.id) {
                  setJob(undefined);
                  setImages(undefined);
                }
              },
              (e) => setError((e as ApiError).status === 409 ? 'This server keeps finished jobs: it cannot delete them (a newer Atelier can).' : (e as Error).message),
            )
          }
        />
      </section>

      <div class="runbar" role="region" aria-label="run">
        <div class="runbar-info">
          <strong>{method?.title ?? 'No method'}</strong>
          <small>
            {missing.length > 0
              ? `Needs ${missing.join(', ')}`
              : batchOn
                ? `${batchCount} job${batchCount === 1 ? '' : 's'}${estimate ? ` · about ${Math.max(1, Math.round(estimate.ms / 1000))} s in all` : ''}`
                : estimate
                  ? `about ${estimate.ms < 1000 ? '1' : Math.round(estimate.ms / 1000)} s (from ${estimate.runs} earlier run${estimate.runs === 1 ? '' : 's'})`
                  : 'no time estimate yet (first run of this method here)'}
          </small>
        </div>
        <kbd class="shortcut" aria-hidden="true">
          Ctrl/⌘+Enter
        </kbd>
        {busy && (
          <button type="button" onClick={() => void api.cancel(job!.id).catch((e) => setError((e as Error).message))}>
            Cancel
          </button>
        )}
        <button type="button" class="primary" data-action="run" disabled={missing.length > 0 || busy || submitting} aria-keyshortcuts="Control+Enter Meta+Enter" onClick={() => void run()}>
          {submitting ? 'Starting…' : busy ? 'Running…' : batchOn ? `Run ${batchCount}` : 'Run'}
        </button>
      </div>
      </>
      )}

      {showModels && <ModelManager models={models} install={install} cancel={cancelInstall} onClose={() => setShowModels(false)} />}
    </div>
  );
}

