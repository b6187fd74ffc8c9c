import { useEffect, useState } from 'preact/hooks';
import { api, type MethodInfo } from '../api';

/**
 * Choosing a method: a compact select grouped by family, and a browsable grid where each method
 * shows what it does to the shipped harbour sample (pictures made by
 * scripts/make-method-examples.mjs; a method without one says why).
 */
export function MethodPicker({ methods, value, examples, onChange }: { methods: MethodInfo[]; value: string | undefined; examples: Record<string, { url: string }>; onChange: (id: string) => void }) {
  const [browsing, setBrowsing] = useState(false);
  const families = [...new Set(methods.map((m) => m.family))];
  const chosen = methods.find((m) => m.id === value);
  return (
    <div class="picker">
      <div class="picker-row">
        <select aria-label="method" value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
          {families.map((f) => {
            const inFamily = methods.filter((m) => m.family === f);
            return (
              <optgroup label={inFamily[0]!.familyTitle}>
                {inFamily.map((m) => (
                  <option value={m.id}>{m.title}</option>
                ))}
              </optgroup>
            );
          })}
        </select>
        <button type="button" class="small" aria-expanded={browsing} aria-controls="method-grid" onClick={() => setBrowsing(!browsing)}>
          {browsing ? 'Close' : 'Browse'}
        </button>
      </div>
      {browsing && (
        <div class="method-grid" id="method-grid" role="radiogroup" aria-label="methods with an example">
          {methods.map((m) => (
            <button
              type="button"
              role="radio"
              aria-checked={m.id === value}
              class="method-card"
              data-method={m.id}
              onClick={() => {
                onChange(m.id);
                setBrowsing(false);
              }}
            >
              {examples[m.id] ? <img src={examples[m.id]!.url} alt="" loading="lazy" /> : <span class="method-card-none">{m.weights.length > 0 ? 'needs weights' : 'no example'}</span>}
              <span class="method-card-title">{m.title}</span>
              <small>{m.familyTitle}</small>
            </button>
          ))}
        </div>
      )}
      {chosen && (
        <div class="method-info">
          <p>{chosen.summary}</p>
          <small class="muted">
            <code>{chosen.id}</code>
            {chosen.reference && ` · ${chosen.reference}`}
          </small>
        </div>
      )}
    </div>
  );
}

/**
 * Networks with fixed styles: pick one from its thumbnail. The list comes from the method's
 * description; the pictures are files of its model, fetched once it is installed.
 */
export function StyleGallery({ method, value, onPick }: { method: MethodInfo; value: unknown; onPick: (v: string | number) => void }) {
  const g = method.styleGallery;
  const installed = !g?.model || method.weights.some((w) => w.model === g.model && w.installed);
  const [urls, setUrls] = useState<Record<string, string>>({});
  useEffect(() => {
    if (!g || !installed) return;
    let live = true;
    const made: string[] = [];
    for (const item of g.items) {
      if (!item.thumbnail) continue;
      const path = g.model ? `/api/models/${encodeURIComponent(g.model)}/files/${item.thumbnail}` : item.thumbnail;
      api.imageUrl(path).then(
        (u) => {
          made.push(u);
          if (live) setUrls((old) => ({ ...old, [String(item.value)]: u }));
        },
        () => {},
      );
    }
    return () => {
      live = false;
      made.forEach((u) => URL.revokeObjectURL(u));
    };
  }, [method.id, installed]);
  if (!g || g.items.length === 0) return null;
  return (
    <fieldset class="gallery-wrap">
      <legend>Style</legend>
      {!installed && <small>The pictures of these styles come with {g.model}: install it to see them.</small>}
      <div class="gallery" role="radiogroup" aria-label="styles">
        {g.items.map((item) => (
          <button type="button" role="radio" aria-checked={value === item.value} class="gallery-item" data-style={String(item.value)} onClick={() => onPick(item.value)} title={item.label}>
            {urls[String(item.value)] ? <img src={urls[String(item.value)]} alt="" /> : <span class="method-card-none">{item.label}</span>}
            <small>{item.label}</small>
          </button>
        ))}
      </div>
    </fieldset>
  );
}
