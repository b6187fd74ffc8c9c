import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, followJob, type Job, type MethodInfo, type Sample, type ServerConfig, type TrainerInfo, type TrainingJobParams } from '../api';
import { checkImageFile } from '../check-image';
import { Dropzone } from './Dropzone';
import { ParamForm, type ParamValues } from './ParamForm';

/**
 * The trainer page: choose a recipe and its base model, drop style images, set steps and the
 * recipe's own settings (its form comes from GET /api/trainers, like the studio's method forms),
 * start. While it trains: steps, time left, a live plot of every loss and a preview on a fixed
 * photo every N steps; cancel keeps the last checkpoint and resume continues from it. When it is
 * done the model is installed on the server and one click opens it in the studio's method.
 */

const TRAINING_KEY = 'atelier.training';
const LIVE: Job['status'][] = ['queued', 'running'];
/** Values a step reports that are not losses: shown as facts, not plotted. */
const NOT_LOSSES = new Set(['seconds', 'learningRate', 'gradientNorm']);
const COLOURS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2'];

type Series = Record<string, number[]>;

function seconds(s: number): string {
  const r = Math.max(0, Math.round(s));
  return r < 60 ? `${r} s` : `${Math.floor(r / 60)} min ${String(r % 60).padStart(2, '0')} s`;
}

function defaultName(recipe: string): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${recipe}-${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}`.toLowerCase().replace(/[^a-z0-9_-]/g, '-');
}

/** Every loss on one log-scale chart, by step. */
export function LossPlot({ series, steps }: { series: Series; steps: number[] }) {
  const keys = Object.keys(series).filter((k) => series[k]!.some((v) => v > 0));
  if (steps.length < 2 || keys.length === 0) return <p class="muted loss-empty">The losses appear here after the first steps.</p>;
  const W = 560;
  const H = 220;
  const [left, right, top, bottom] = [44, 12, 10, 26];
  const logs = keys.flatMap((k) => series[k]!.filter((v) => v > 0).map((v) => Math.log10(v)));
  const lo = Math.floor(Math.min(...logs));
  const hi = Math.max(lo + 1, Math.ceil(Math.max(...logs)));
  const x = (s: number) => left + ((W - left - right) * (s - steps[0]!)) / Math.max(1, steps.at(-1)! - steps[0]!);
  const y = (v: number) => top + ((H - top - bottom) * (hi - Math.log10(Math.max(v, 10 ** lo)))) / (hi - lo);
  const summary = keys.map((k) => `${k} ${series[k]![0]!.toPrecision(3)} to ${series[k]!.at(-1)!.toPrecision(3)}`).join(', ');
  return (
    <figure class="loss-plot">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`losses over steps ${steps[0]} to ${steps.at(-1)}: ${summary}`}>
        {Array.from({ length: hi - lo + 1 }, (_, i) => lo + i).map((e) => (
          <g key={e}>
            <line x1={left} x2={W - right} y1={y(10 ** e)} y2={y(10 ** e)} class="grid" />
            <text x={left - 6} y={y(10 ** e) + 4} text-anchor="end">{`1e${e}`}</text>
          </g>
        ))}
        <text x={left} y={H - 6}>{`step ${steps[0]}`}</text>
        <text x={W - right} y={H - 6} text-anchor="end">{`step ${steps.at(-1)}`}</text>
        {keys.map((k, i) => (
          <polyline
            key={k}
            fill="none"
            stroke={COLOURS[i % COLOURS.length]}
            stroke-width="1.6"
            points={series[k]!.map((v, j) => `${x(steps[j]!).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}
          />
        ))}
      </svg>
      <figcaption class="legend">
        {keys.map((k, i) => (
          <span key={k}>
            <i style={{ background: COLOURS[i % COLOURS.length] }} aria-hidden="true" /> {k} <b>{series[k]!.at(-1)!.toPrecision(3)}</b>
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

export function TrainerPage({
  samples,
  config,
  onUse,
  onTrained,
  start: startAt,
}: {
  samples: Sample[];
  config?: ServerConfig;
  /** Open on this recipe with these params set (a studio form's "Train one"), not on the last training. */
  start?: { recipe: string; params: Record<string, unknown> };
  /** A training finished: the server has a new model. */
  onTrained?: () => void;
  /** Open the trained model in the studio: the method and the params that select it. */
  onUse: (method: string, params: Record<string, unknown>) => void;
}) {
  const [trainers, setTrainers] = useState<TrainerInfo[]>([]);
  const [recipeId, setRecipeId] = useState<string>();
  const [values, setValues] = useState<ParamValues>({});
  const [base, setBase] = useState<string>();
  const [files, setFiles] = useState<Record<string, File[]>>({});
  const [fileErrors, setFileErrors] = useState<Record<string, string>>({});
  const [model, setModel] = useState('');
  const [iterations, setIterations] = useState<number>();
  const [previewEvery, setPreviewEvery] = useState<number>();
  const [job, setJob] = useState<Job>();
  const [steps, setSteps] = useState<number[]>([]);
  const [series, setSeries] = useState<Series>({});
  const [rate, setRate] = useState<number[]>([]);
  const [preview, setPreview] = useState<{ url: string; step: number }>();
  const [error, setError] = useState<string>();
  const [submitting, setSubmitting] = useState(false);
  const [history, setHistory] = useState<Job[]>([]);
  const stop = useRef<(() => void) | undefined>(undefined);

  const recipe = useMemo(() => trainers.find((t) => t.id === recipeId), [trainers, recipeId]);
  const busy = job !== undefined && LIVE.includes(job.status);
  const params = job?.params as unknown as TrainingJobParams | undefined;
  const total = params?.iterations ?? iterations ?? recipe?.loop.iterations ?? 0;

  // The recipe's form as the studio's ParamForm renders it: basic params first, the rest under Advanced.
  const form = useMemo<MethodInfo | undefined>(() => {
    if (!recipe) return undefined;
    // The base model has its own select; the params a chosen base fixes (a width) leave the form.
    const fixed = new Set(base ? (recipe.base?.sets ?? []) : []);
    const properties = Object.fromEntries(Object.entries(recipe.params.properties).filter(([k]) => k !== recipe.base?.param && !fixed.has(k)));
    const basic = new Set(recipe.basic);
    return {
      id: `train.${recipe.id}`,
      family: 'train',
      familyTitle: 'Training',
      title: recipe.title,
      summary: recipe.summary,
      inputs: { style: 'none' },
      params: { ...recipe.params, properties },
      sharedControls: [],
      regions: 'pipeline',
      weights: [],
      advanced: Object.keys(properties).filter((k) => !basic.has(k)),
      presets: [],
    } as MethodInfo;
  }, [recipe, base]);

  const loadHistory = async () => setHistory((await api.jobs(1, 50)).jobs.filter((j) => j.kind === 'training'));

  const showPreview = async (id: string, step: number) => {
    try {
      const url = await api.imageUrl(`/api/jobs/${id}/preview`);
      setPreview((old) => {
        if (old) URL.revokeObjectURL(old.url);
        return { url, step };
      });
    } catch {
      // no preview yet
    }
  };

  /** Follow a training: its recorded losses first, then live steps and previews. */
  const attach = async (j: Job) => {
    stop.current?.();
    setJob(j);
    setError(undefined);
    localStorage.setItem(TRAINING_KEY, j.id);
    // The form shows the settings of the training on screen.
    const p = j.params as unknown as TrainingJobParams;
    setRecipeId(j.method);
    setModel(p.model);
    setIterations(p.iterations);
    setPreviewEvery(p.previewEvery);
    setValues(Object.fromEntries(Object.entries(p.recipe).filter(([, v]) => v !== 'uploaded images')));
    const records = await api.losses(j.id).catch(() => []);
    const keys = [...new Set(records.flatMap((r) => Object.keys(r)))].filter((k) => k !== 'iteration' && !NOT_LOSSES.has(k));
    setSteps(records.map((r) => r.iteration + 1));
    setSeries(Object.fromEntries(keys.map((k) => [k, records.map((r) => r[k]!)])));
    setRate(records.slice(-10).map((r) => r.seconds ?? 0));
    setPreview(undefined);
    void showPreview(j.id, records.at(-1)?.iteration ?? 0);
    if (!LIVE.includes(j.status)) return;
    stop.current = followJob(j.id, {
      progress: (e) => {
        if (e.type === 'step' && e.values) {
          const v = e.values;
          setSteps((s) => (s.at(-1) === e.step ? s : [...s, e.step]));
          setSeries((old) => {
            const next: Series = { ...old };
            for (const [k, value] of Object.entries(v)) if (!NOT_LOSSES.has(k)) next[k] = [...(old[k] ?? []), value];
            return next;
          });
          if (v.seconds !== undefined) setRate((r) => [...r.slice(-9), v.seconds!]);
        } else if (e.type === 'frame' && e.label === 'preview') {
          void showPreview(j.id, e.frame);
        }
      },
      status: (s) => setJob(s),
      end: (done, err) => {
        void loadHistory();
        if (done) {
          onTrained?.();
          // The new model may be a base for the next training.
          void api.trainers().then(setTrainers, () => {});
          setJob(done);
          void showPreview(done.id, (done.params as unknown as TrainingJobParams).iterations);
        } else {
          void api.job(j.id).then(setJob, () => setJob((cur) => cur && { ...cur, status: 'failed', ...(err && { error: err }) }));
        }
      },
    });
  };

  useEffect(() => {
    void (async () => {
      try {
        const list = await api.trainers();
        setTrainers(list);
        const asked = startAt && list.find((t) => t.id === startAt.recipe);
        if (asked) {
          // The base model has its own select; the other params go in the form.
          const baseParam = asked.base?.param;
          setRecipeId(asked.id);
          // A value the recipe cannot take (a LoRA on a network its trainer does not adapt) is left to the user.
          const takes = (k: string, v: unknown) => v !== undefined && k in asked.params.properties && (asked.params.properties[k]!.enum?.includes(v as never) ?? true);
          setValues(Object.fromEntries(Object.entries(startAt!.params).filter(([k, v]) => k !== baseParam && takes(k, v))));
          if (baseParam && typeof startAt!.params[baseParam] === 'string') setBase(startAt!.params[baseParam] as string);
          await loadHistory();
          return;
        }
        setRecipeId((id) => id ?? list[0]?.id);
        await loadHistory();
        const last = localStorage.getItem(TRAINING_KEY);
        if (last) {
          const j = await api.job(last).catch(() => undefined);
          if (j) {
            setRecipeId(j.method);
            await attach(j);
          }
        }
      } catch (e) {
        setError((e as Error).message);
      }
    })();
    return () => stop.current?.();
  }, []);

  useEffect(() => {
    if (!recipe) return;
    setModel((m) => m || defaultName(recipe.id));
    // '' is "none" (the param left unset), where the recipe offers it; it comes first.
    setBase((b) => (b !== undefined && (recipe.base?.choices.includes(b) || (b === '' && recipe.base?.none !== undefined)) ? b : recipe.base?.none !== undefined ? '' : recipe.base?.choices[0]));
  }, [recipe?.id]);
  // A training on screen shows the base model it started from (its params hold it; the form does not).
  useEffect(() => {
    if (!recipe?.base || !job || job.method !== recipe.id) return;
    const from = (job.params as unknown as TrainingJobParams).recipe[recipe.base.param];
    setBase(from === undefined ? (recipe.base.none !== undefined ? '' : recipe.base.choices[0]) : String(from));
  }, [job?.id, recipe?.id]);

  const chooseFiles = async (param: string, chosen: File[]) => {
    setFiles((old) => ({ ...old, [param]: chosen }));
    const problems = await Promise.all(chosen.map((f) => checkImageFile(f, config?.limits)));
    setFileErrors((old) => {
      const next = { ...old };
      const p = problems.find(Boolean);
      if (p) next[param] = p;
      else delete next[param];
      return next;
    });
  };
  const addSample = async (param: string, s: Sample) => {
    const blob = await (await fetch(s.url)).blob();
    void chooseFiles(param, [...(files[param] ?? []), new File([blob], `${s.id}.jpg`, { type: blob.type || 'image/jpeg' })]);
  };

  const missing = !recipe
    ? ['a recipe']
    : [
        // Photos not dropped come from the server's photo set; style images must be dropped.
        ...Object.entries(recipe.images)
          .filter(([k, spec]) => spec.role === 'style' && (files[k]?.length ?? 0) < spec.min)
          .map(([k, spec]) => `${spec.min} ${k} image${spec.min === 1 ? '' : 's'}`),
        ...(/^[a-z0-9][a-z0-9_-]{0,63}$/.test(model) ? [] : ['a model name (lowercase letters, digits, - and _)']),
        ...(Object.keys(fileErrors).length > 0 ? ['images the server accepts'] : []),
      ];

  const start = async () => {
    if (!recipe || busy || submitting || missing.length > 0) return;
    setSubmitting(true);
    setError(undefined);
    try {
      const f = new FormData();
      f.append('trainer', recipe.id);
      f.append('model', model);
      const n = iterations ?? recipe.loop.iterations;
      f.append('iterations', String(n));
      const every = previewEvery ?? recipe.loop.previewEvery;
      f.append('previewEvery', String(every));
      f.append('saveEvery', String(every));
      const fixed = new Set(base ? (recipe.base?.sets ?? []) : []);
      const p = { ...Object.fromEntries(Object.entries(values).filter(([k, v]) => v !== undefined && !fixed.has(k) && k !== recipe.base?.param)), ...(recipe.base && base && { [recipe.base.param]: base }) };
      f.append('params', JSON.stringify(p));
      for (const [param, list] of Object.entries(files)) if (param in recipe.images) for (const file of list) f.append(param, file);
      const j = await api.train(f);
      await attach(j);
      void loadHistory();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setSubmitting(false);
    }
  };

  const step = job?.status === 'done' ? total : (steps.at(-1) ?? 0);
  const perStep = rate.length > 0 ? rate.reduce((a, b) => a + b, 0) / rate.length : undefined;
  const left = job?.status === 'running' && perStep !== undefined && total > step ? perStep * (total - step) : undefined;
  const facts = job?.status === 'running' || job?.status === 'done' ? series : {};
  const meta = job?.meta as { model?: string; use?: { method: string; param: string; params?: Record<string, unknown> } } | undefined;

  return (
    <main class="trainer layout">
      <section class="stage-panel trainer-stage" aria-labelledby="h-training">
        <h2 id="h-training">{job ? `Training ${params?.model ?? ''}` : 'Training'}</h2>
        {job ? (
          <div class="training-live" data-status={job.status}>
            <div class="progress" role="status" aria-live="polite">
              <div class="progress-head">
                <strong>
                  {job.status === 'queued' ? 'Waiting in the queue' : job.status === 'running' ? (step > 0 ? `Step ${step} of ${total}` : 'Preparing the data and networks…') : job.status === 'done' ? `Done: ${total} steps` : job.status === 'cancelled' ? 'Cancelled' : 'Failed'}
                </strong>
                <span class="progress-pct">{Math.round((100 * step) / Math.max(1, total))} %</span>
              </div>
              <div class="progress-track" role="progressbar" aria-label="training progress" aria-valuemin={0} aria-valuemax={total} aria-valuenow={step} aria-valuetext={`step ${step} of ${total}`}>
                <div class="progress-fill" style={{ width: `${(100 * step) / Math.max(1, total)}%` }} />
              </div>
              <div class="progress-facts">
                {perStep !== undefined && <span>{perStep.toFixed(2)} s per step</span>}
                {left !== undefined && <span>about {seconds(left)} left</span>}
                {Object.keys(facts).length === 0 && job.status === 'running' && <span>the first step starts once the networks are built</span>}
              </div>
            </div>
            {(job.status === 'failed' || job.status === 'cancelled') && (
              <div class={`outcome ${job.status}`} role="alert">
                <strong>{job.status === 'cancelled' ? 'Cancelled' : 'Failed'}</strong>
                <p class="outcome-message">{job.status === 'cancelled' ? `Stopped at step ${step}; the last checkpoint is kept. Resume continues from it.` : (job.error?.message ?? 'The training failed without a message.')}</p>
                {job.error?.code && job.status === 'failed' && <code>{job.error.code}</code>}
              </div>
            )}
            <div class="training-views">
              <LossPlot series={series} steps={steps} />
              <figure class="training-preview">
                {preview ? <img src={preview.url} alt={`preview of the model at step ${preview.step}, on the fixed photo`} /> : <div class="preview-empty muted">No preview yet: when the recipe's method can run the weights, a preview on a fixed photo appears every {params?.previewEvery ?? '…'} steps.</div>}
                <figcaption class="muted">{preview ? `Preview at step ${preview.step}` : 'Preview'}</figcaption>
              </figure>
            </div>
            {job.status === 'done' && meta?.model && (
              <div class="trained-model" role="status">
                <p>
                  The model <strong>{meta.model}</strong> is installed on the server{meta.use ? ` and listed among the ${meta.use.method} weights` : ''}.
                </p>
                {meta.use && (
                  <button type="button" class="primary" onClick={() => onUse(meta.use!.method, { ...(meta.use!.params ?? {}), [meta.use!.param]: meta.model })}>
                    Use it in the studio
                  </button>
                )}
              </div>
            )}
            <div class="training-actions">
              {busy && (
                <button type="button" onClick={() => void api.cancel(job.id).catch((e) => setError((e as Error).message))}>
                  Cancel
                </button>
              )}
              {(job.status === 'cancelled' || job.status === 'failed') && (
                <button type="button" class="primary" onClick={() => void api.resume(job.id).then(attach, (e) => setError((e as Error).message))}>
                  Resume from step {step}
                </button>
              )}
              {!busy && (
                <button type="button" class="link" onClick={() => {
                    stop.current?.();
                    setJob(undefined);
                    setSteps([]);
                    setSeries({});
                    setPreview(undefined);
                    localStorage.removeItem(TRAINING_KEY);
                    setModel(recipe ? defaultName(recipe.id) : '');
                    setIterations(undefined);
                    setPreviewEvery(undefined);
                  }}
                >
                  New training
                </button>
              )}
            </div>
          </div>
        ) : (
          <div class="training-intro">
            <p>
              Teach a network a new look from a handful of images. Choose a recipe and its starting model, drop 1 to 20 style images, then <strong>Start training</strong>. The losses and a preview on a fixed
              photo appear here as it learns; the finished model becomes a choice of the studio's method.
            </p>
          </div>
        )}
        {error && (
          <div class="alert" role="alert">
            {error}
          </div>
        )}
      </section>

      <div class="controls">
        <section class="panel" aria-labelledby="h-recipe">
          <h2 id="h-recipe">Recipe</h2>
          <div class="param">
            <label for="trainer-recipe" class="param-label">
              Method
            </label>
            <select id="trainer-recipe" value={recipeId} disabled={busy} onChange={(e) => {
                const id = (e.target as HTMLSelectElement).value;
                setRecipeId(id);
                setValues({});
                setModel(defaultName(id));
              }}
            >
              {trainers.map((t) => (
                <option value={t.id}>{t.title}</option>
              ))}
            </select>
            {recipe && <small>{recipe.summary}</small>}
          </div>
          {recipe?.base && (
            <div class="param">
              <label for="trainer-base" class="param-label">
                Base model
              </label>
              <select id="trainer-base" value={base} disabled={busy} onChange={(e) => setBase((e.target as HTMLSelectElement).value)}>
                {recipe.base.none !== undefined && <option value="">{recipe.base.none}</option>}
                {recipe.base.choices.map((c) => (
                  <option value={c}>{c === 'random' ? 'random (from scratch)' : c === 'installed' ? 'installed (the published model)' : c}</option>
                ))}
              </select>
              <small>{recipe.params.properties[recipe.base.param]?.description}</small>
              {recipe.base.none !== undefined && recipe.base.choices.length === 0 && <small class="base-empty">No model to start from is installed yet: install one under Models (or train one here), and it is offered here.</small>}
            </div>
          )}
        </section>
        {recipe && (
          <section class="panel" aria-labelledby="h-train-images">
            <h2 id="h-train-images">Images</h2>
            <div class="dropzones">
              {Object.entries(recipe.images).map(([param, spec]) => (
                <Dropzone
                  key={param}
                  name={`train-${param}`}
                  label={`${param[0]!.toUpperCase()}${param.slice(1)} (${spec.role === 'content' ? `optional, up to ${spec.max}` : spec.min === 0 ? `up to ${spec.max}` : `${spec.min}–${spec.max}`})`}
                  hint={spec.description}
                  multiple
                  files={files[param] ?? []}
                  error={fileErrors[param]}
                  samples={samples.filter((s) => s.kind === spec.role)}
                  onFiles={(f) => void chooseFiles(param, f)}
                  onSample={(s) => void addSample(param, s)}
                />
              ))}
            </div>
          </section>
        )}
        {recipe && form && (
          <section class="panel" aria-labelledby="h-train-settings">
            <h2 id="h-train-settings">Settings</h2>
            <div class="params">
              <div class="param">
                <label for="trainer-model" class="param-label">
                  Model name
                </label>
                <input id="trainer-model" type="text" value={model} disabled={busy} onInput={(e) => setModel((e.target as HTMLInputElement).value.trim())} aria-describedby="trainer-model-hint" />
                <small id="trainer-model-hint">The trained model is installed under this name (lowercase letters, digits, - and _).</small>
              </div>
              <div class="param">
                <label for="trainer-steps" class="param-label">
                  Steps
                </label>
                <input id="trainer-steps" type="number" min={1} step={1} value={iterations ?? recipe.loop.iterations} disabled={busy} onInput={(e) => setIterations(Number((e.target as HTMLInputElement).value) || undefined)} />
              </div>
              <div class="param">
                <label for="trainer-preview-every" class="param-label">
                  Preview and checkpoint every
                </label>
                <input id="trainer-preview-every" type="number" min={1} step={1} value={previewEvery ?? recipe.loop.previewEvery} disabled={busy} onInput={(e) => setPreviewEvery(Number((e.target as HTMLInputElement).value) || undefined)} />
                <small>steps</small>
              </div>
            </div>
            <ParamForm method={form} values={values} onChange={setValues} />
          </section>
        )}
        <div class="panel train-start">
          <small class="muted">{missing.length > 0 ? `Needs ${missing.join(', ')}` : `${iterations ?? recipe?.loop.iterations ?? 0} steps of ${recipe?.title ?? ''}`}</small>
          <button type="button" class="primary" data-action="train" disabled={missing.length > 0 || busy || submitting} onClick={() => void start()}>
            {submitting ? 'Starting…' : busy ? 'Training…' : 'Start training'}
          </button>
        </div>
        {history.length > 0 && (
          <section class="panel" aria-labelledby="h-trainings">
            <h2 id="h-trainings">Trainings</h2>
            <ul class="training-list">
              {history.map((h) => (
                <li key={h.id}>
                  <button type="button" class="link" aria-current={h.id === job?.id} onClick={() => (setRecipeId(h.method), void attach(h))}>
                    {(h.params as unknown as TrainingJobParams).model}
                  </button>{' '}
                  <span class={`status-${h.status}`}>{h.status}</span> <span class="muted">{h.method}</span>
                </li>
              ))}
            </ul>
          </section>
        )}
      </div>
    </main>
  );
}
