import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type MethodInfo, type ModelInfo } from '../api';
import { InstallControl, type Install } from './Models';

/**
 * Networks with fixed styles, picked from pictures: Magenta's 26 styles by the thumbnails its model
 * ships, each per-style fast network by its own output on the shipped harbour sample (rendered by
 * the server the first time, GET /api/methods/ID/styles/VALUE). Only installed styles have a
 * picture; the others say so and install from here, with their licence. Each style names its
 * source and licence.
 */

type Gallery = NonNullable<MethodInfo['styleGallery']>;
type Item = Gallery['items'][number];

/** The licence in a word or two for a caption; the whole text is in the details line. */
export function shortLicence(m: ModelInfo): string {
  if (m.terms === 'permissive') return m.licence.split(/[ (]/)[0] ?? m.licence;
  if (m.terms === 'unstated') return 'licence unstated';
  return m.terms;
}

/** The model an item needs: its own, or the gallery's. */
const modelOf = (g: Gallery, item: Item) => item.model ?? g.model;

export function StyleGallery({
  method,
  value,
  models,
  install,
  cancel,
  onPick,
  heading = 'Style',
}: {
  method: MethodInfo;
  value: unknown;
  models: ModelInfo[];
  install: Install;
  cancel: (name: string) => void;
  onPick: (v: string | number) => void;
  heading?: string;
}) {
  const g = method.styleGallery;
  const byName = new Map(models.map((m) => [m.name, m]));
  const isInstalled = (item: Item) => {
    const name = g && modelOf(g, item);
    if (!name) return true;
    return byName.get(name)?.installed ?? item.installed ?? method.weights.some((w) => w.model === name && w.installed);
  };
  const installedKey = g ? g.items.filter(isInstalled).map((i) => String(i.value)).join(',') : '';
  const [urls, setUrls] = useState<Record<string, string>>({});
  const [failed, setFailed] = useState<Record<string, string>>({});
  const made = useRef<string[]>([]);
  // Object URLs go when the gallery does (it is keyed by its method).
  useEffect(() => () => made.current.forEach((u) => URL.revokeObjectURL(u)), []);
  useEffect(() => {
    if (!g) return;
    let live = true;
    // Four requests at a time, in the gallery's order: shipped thumbnails come quickly, and the
    // server renders one network at a time anyway.
    const queue = g.items.filter((item) => isInstalled(item) && !urls[String(item.value)]);
    const lane = async () => {
      for (let item = queue.shift(); item && live; item = queue.shift()) {
        const key = String(item.value);
        try {
          const u = await api.imageUrl(`/api/methods/${encodeURIComponent(method.id)}/styles/${encodeURIComponent(key)}`);
          made.current.push(u);
          if (live) setUrls((old) => ({ ...old, [key]: u }));
        } catch (e) {
          if (live) setFailed((old) => ({ ...old, [key]: (e as Error).message }));
        }
      }
    };
    for (let i = 0; i < 4; i++) void lane();
    return () => {
      live = false;
    };
  }, [method.id, installedKey]);
  if (!g || g.items.length === 0) return null;
  const chosen = g.items.find((i) => i.value === value);
  const chosenModel = chosen && modelOf(g, chosen) ? byName.get(modelOf(g, chosen)!) : undefined;
  const shared = g.model ? byName.get(g.model) : undefined;
  const sharedMissing = g.model !== undefined && !g.items.some(isInstalled);
  const id = `gallery-${method.id.replace(/\W/g, '-')}`;
  return (
    <fieldset class="gallery-wrap" data-gallery={method.id}>
      <legend>{heading}</legend>
      {sharedMissing && shared && (
        <div class="gallery-install">
          <small>The pictures of these styles come with {shared.name} ({shortLicence(shared)}): install it to see them.</small>
          <InstallControl model={shared} install={install} cancel={cancel} />
        </div>
      )}
      <div class={`gallery${g.items.some((i) => i.model) ? ' gallery-wide' : ''}`} role="radiogroup" aria-label={`${method.title}: styles`} aria-describedby={`${id}-details`}>
        {g.items.map((item) => {
          const key = String(item.value);
          const own = item.model ? byName.get(item.model) : undefined;
          const installed = isInstalled(item);
          return (
            <div class="gallery-cell" data-style={key} data-installed={installed ? 'yes' : 'no'}>
              <button
                type="button"
                role="radio"
                aria-checked={value === item.value}
                class="gallery-item"
                onClick={() => onPick(item.value)}
                title={[item.label, item.source, own?.licence].filter(Boolean).join(' · ')}
              >
                {urls[key] ? (
                  <img src={urls[key]} alt="" />
                ) : (
                  <span class="method-card-none">{!installed ? 'not installed' : failed[key] ? 'no picture' : 'rendering…'}</span>
                )}
                <span class="gallery-label">{item.label}</span>
                {own && <small class="gallery-licence">{shortLicence(own)}</small>}
              </button>
              {own && !installed && <InstallControl model={own} install={install} cancel={cancel} compact />}
            </div>
          );
        })}
      </div>
      <small id={`${id}-details`} class="gallery-details">
        {chosen
          ? [
              `${chosen.label}${chosenModel ? ` (${chosenModel.name})` : ''}`,
              chosen.source,
              (chosenModel ?? shared) && `licence: ${(chosenModel ?? shared)!.licence}`,
              !isInstalled(chosen) && 'not installed',
            ]
              .filter(Boolean)
              .join(' · ')
          : 'Pick a style.'}
        {g.items.some((i) => i.model) && ' Pictures: each network run on the harbour sample by this server.'}
      </small>
    </fieldset>
  );
}

/** Every method's gallery in one place: a pick sets the method and its style. */
export function StyleBrowser({
  methods,
  models,
  install,
  cancel,
  current,
  onPick,
}: {
  methods: MethodInfo[];
  models: ModelInfo[];
  install: Install;
  cancel: (name: string) => void;
  current: { method?: string; value: unknown };
  onPick: (method: MethodInfo, value: string | number) => void;
}) {
  const withGallery = methods.filter((m) => m.styleGallery && m.styleGallery.items.length > 0);
  return (
    <div class="style-browser" id="style-browser">
      {withGallery.map((m) => (
        <StyleGallery key={m.id} method={m} heading={m.title} value={current.method === m.id ? current.value : undefined} models={models} install={install} cancel={cancel} onPick={(v) => onPick(m, v)} />
      ))}
    </div>
  );
}
