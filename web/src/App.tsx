import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, followJob, token, type Job, type MethodInfo } from './api';
import { CompareSlider } from './components/CompareSlider';
import { Dropzone } from './components/Dropzone';
import { History, downloadResult } from './components/History';
import { MaskPainter } from './components/MaskPainter';
import { MethodPicker } from './components/MethodPicker';
import { ParamForm, type ParamValues } from './components/ParamForm';

/**
 * The studio. Everything about methods comes from GET /api/methods: the picker, the inputs each
 * method takes, the parameter form. A method added to the registry appears here unchanged.
 */

interface View {
  job: Job;
  before: string;
  after: string;
}

type Metrics = Record<string, { value: number; higherIsBetter: boolean; title: string }>;

export function App() {
  const [methods, setMethods] = useState<MethodInfo[]>([]);
  const [methodId, setMethodId] = useState<string>();
  const [values, setValues] = useState<ParamValues>({});
  const [files, setFiles] = useState<Record<string, File[]>>({});
  const [useMask, setUseMask] = useState(false);
  const [mask, setMask] = useState<Blob | null>(null);
  const [job, setJob] = useState<Job>();
  const [progress, setProgress] = useState<{ fraction: number; label: string }>();
  const [error, setError] = useState<string>();
  const [view, setView] = useState<View>();
  const [metrics, setMetrics] = useState<Metrics>();
  const [history, setHistory] = useState<Job[]>([]);
  const [historyPages, setHistoryPages] = useState({ page: 1, pages: 1 });
  const [tokenText, setTokenText] = useState(token.get());
  const stopFollowing = useRef<(() => void) | undefined>(undefined);

  const method = useMemo(() => methods.find((m) => m.id === methodId), [methods, methodId]);

  const loadHistory = async (page = 1) => {
    const r = await api.jobs(page);
    setHistory((h) => (page === 1 ? r.jobs : [...h, ...r.jobs]));
    setHistoryPages({ page, pages: r.pages });
  };

  const load = async () => {
    try {
      const list = await api.methods();
      setMethods(list);
      setMethodId((id) => id ?? list.find((m) => m.id === 'color.reinhard')?.id ?? list[0]?.id);
      setError(undefined);
      await loadHistory();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  useEffect(() => {
    void load();
    return () => stopFollowing.current?.();
  }, []);

  const show = async (j: Job) => {
    setMetrics(undefined);
    if (!j.links.result) return setView(undefined);
    const [before, after] = await Promise.all([api.imageUrl(j.links.inputs.content!), api.imageUrl(j.links.result)]);
    setView((old) => {
      if (old) [old.before, old.after].forEach((u) => URL.revokeObjectURL(u));
      return { job: j, before, after };
    });
  };

  const follow = (j: Job) => {
    stopFollowing.current?.();
    setJob(j);
    setProgress({ fraction: 0, label: 'queued' });
    stopFollowing.current = followJob(j.id, {
      progress: (e) => setProgress({ fraction: e.fraction, label: e.label }),
      status: (s) => {
        setJob(s);
        if (s.status === 'running') setProgress((p) => p ?? { fraction: 0, label: 'running' });
      },
      end: (done, err) => {
        void loadHistory();
        if (done) {
          setJob(done);
          setProgress({ fraction: 1, label: 'done' });
          void show(done);
        } else {
          setJob((cur) => cur && { ...cur, status: err?.code === 'E_ABORTED' ? 'cancelled' : 'failed' });
          setError(err?.code === 'E_ABORTED' ? undefined : err?.message);
          setProgress(undefined);
        }
      },
    });
  };

  const run = async () => {
    if (!method) return;
    setError(undefined);
    const form = new FormData();
    form.append('method', method.id);
    const changed = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
    form.append('params', JSON.stringify(changed));
    for (const [name, list] of Object.entries(files)) {
      if (name === 'style' && method.inputs.style === 'none') continue;
      // Files kept from another method's extra inputs are not this method's.
      if (name !== 'content' && name !== 'style' && !method.inputs.extra?.[name]) continue;
      for (const f of name === 'style' && !method.inputs.multiStyle ? list.slice(0, 1) : list) form.append(name, f);
    }
    if (useMask && mask) form.append('mask', mask, 'mask.png');
    try {
      follow(await api.submit(form));
      // On a phone the result is below the form: bring it into view.
      if (window.matchMedia('(max-width: 720px)').matches) document.getElementById('h-result')?.scrollIntoView({ behavior: 'smooth', block: 'start' });
      void loadHistory();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const missing = !method
    ? ['a method']
    : [
        ...(files.content?.length ? [] : ['a content image']),
        ...(method.inputs.style === 'required' && !files.style?.length ? ['a style image'] : []),
        ...Object.entries(method.inputs.extra ?? {})
          .filter(([k, spec]) => spec.required && !files[k]?.length)
          .map(([k]) => k),
      ];
  const busy = job && (job.status === 'queued' || job.status === 'running');

  return (
    <div class="studio">
      <header class="topbar">
        <h1>
          Atelier <span>studio</span>
        </h1>
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
      </header>

      {error && (
        <div class="alert" role="alert">
          {error}
          <button type="button" class="link" onClick={() => setError(undefined)}>
            Dismiss
          </button>
        </div>
      )}

      <main class="layout">
        <section class="panel" aria-labelledby="h-images">
          <h2 id="h-images">Images</h2>
          <div class="dropzones">
            <Dropzone name="content" label="Content" files={files.content ?? []} onFiles={(f) => setFiles({ ...files, content: f })} />
            {method?.inputs.style !== 'none' && (
              <Dropzone
                name="style"
                label={`Style${method?.inputs.multiStyle ? 's' : ''}${method?.inputs.style === 'optional' ? ' (optional)' : ''}`}
                multiple={method?.inputs.multiStyle ?? false}
                files={files.style ?? []}
                onFiles={(f) => setFiles({ ...files, style: f })}
              />
            )}
            {Object.entries(method?.inputs.extra ?? {}).map(([name, spec]) => (
              <Dropzone key={name} name={name} label={spec.required ? name : `${name} (optional)`} hint={spec.description} files={files[name] ?? []} onFiles={(f) => setFiles({ ...files, [name]: f })} />
            ))}
          </div>
          {files.content?.[0] && (
            <div class="mask-section">
              <label class="switch">
                <input type="checkbox" checked={useMask} onChange={(e) => setUseMask((e.target as HTMLInputElement).checked)} />
                <span class="switch-track" aria-hidden="true" />
                <span>Paint a mask (region control)</span>
              </label>
              {useMask && <MaskPainter content={files.content[0]} onMask={setMask} />}
            </div>
          )}
        </section>

        <section class="panel" aria-labelledby="h-method">
          <h2 id="h-method">Method</h2>
          <MethodPicker
            methods={methods}
            value={methodId}
            onChange={(id) => {
              setMethodId(id);
              setValues({});
            }}
          />
          {method && <ParamForm method={method} values={values} onChange={setValues} />}
          <div class="runbar">
            <button type="button" class="primary" disabled={missing.length > 0 || busy} onClick={() => void run()} title={missing.length ? `needs ${missing.join(', ')}` : undefined}>
              {busy ? 'Running…' : 'Run'}
            </button>
            {busy && (
              <button type="button" onClick={() => void api.cancel(job.id).catch((e) => setError((e as Error).message))}>
                Cancel
              </button>
            )}
            {missing.length > 0 && <small class="muted">Needs {missing.join(', ')}</small>}
          </div>
        </section>

        <section class="panel result-panel" aria-labelledby="h-result">
          <h2 id="h-result">Result</h2>
          {progress && job && (
            <div class="progress" data-status={job.status}>
              <div class="progress-head">
                <span>
                  {job.method} · {job.status === 'running' ? progress.label : job.status}
                </span>
                <span class="progress-pct">{Math.round(progress.fraction * 100)}%</span>
              </div>
              <div class="progress-track" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(progress.fraction * 100)}>
                <div class="progress-fill" style={{ width: `${progress.fraction * 100}%` }} />
              </div>
            </div>
          )}
          {view ? (
            <>
              <CompareSlider before={view.before} after={view.after} />
              <div class="result-actions">
                <span class="muted">
                  {view.job.method}
                  {view.job.timings?.totalMs !== undefined && ` · ${(view.job.timings.totalMs / 1000).toFixed(2)} s`}
                  {view.job.meta?.width !== undefined && ` · ${String(view.job.meta.width)}×${String(view.job.meta.height)}`}
                </span>
                <button type="button" class="small" onClick={() => void downloadResult(view.job)}>
                  Download
                </button>
                <button type="button" class="small" onClick={() => void api.evaluate(view.job.id).then((r) => setMetrics(r.metrics), (e) => setError((e as Error).message))}>
                  Metrics
                </button>
              </div>
              {metrics && (
                <table class="metrics">
                  <tbody>
                    {Object.entries(metrics).map(([id, m]) => (
                      <tr key={id}>
                        <th>{id.toUpperCase()}</th>
                        <td title={m.higherIsBetter ? 'higher is better' : 'lower is better'}>
                          {Number(m.value.toPrecision(4))} <span class="muted">{m.higherIsBetter ? '↑' : '↓'}</span>
                        </td>
                        <td class="muted">{m.title}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </>
          ) : (
            <div class="placeholder">Choose images and a method, then Run. The result appears here with a before/after slider.</div>
          )}
        </section>
      </main>

      <section class="panel history-panel" aria-labelledby="h-history">
        <h2 id="h-history">History</h2>
        <History
          jobs={history}
          more={historyPages.page < historyPages.pages}
          onMore={() => void loadHistory(historyPages.page + 1)}
          onOpen={(j) => void show(j)}
          onRerun={(j) => void api.rerun(j.id).then(follow, (e) => setError((e as Error).message))}
        />
      </section>
    </div>
  );
}
