import { useState } from 'preact/hooks';
import type { MethodInfo } from '../api';

/**
 * Choosing a method: a compact select grouped by family, and a browsable grid where each method
 * shows what it does to the shipped harbour sample (pictures made by
 * scripts/make-method-examples.mjs; a method without one says why).
 */
export function MethodPicker({
  methods,
  value,
  examples,
  onChange,
  styles,
}: {
  methods: MethodInfo[];
  value: string | undefined;
  examples: Record<string, { url: string }>;
  onChange: (id: string) => void;
  /** The style gallery's toggle (the gallery itself is StyleBrowser, shown by the page). */
  styles?: { open: boolean; toggle: () => void };
}) {
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
        {styles && (
          <button type="button" class="small" aria-expanded={styles.open} aria-controls="style-browser" onClick={styles.toggle}>
            {styles.open ? 'Close styles' : 'Styles'}
          </button>
        )}
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
