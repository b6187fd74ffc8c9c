import { useState } from 'preact/hooks';

/** Before/after: the result under the content, the content clipped at the slider's position. */
export function CompareSlider({ before, after }: { before: string; after: string }) {
  const [pos, setPos] = useState(50);
  return (
    <div class="compare" style={{ '--pos': `${pos}%` }}>
      <img class="compare-after" src={after} alt="result" />
      <img class="compare-before" src={before} alt="content" style={{ clipPath: `inset(0 ${100 - pos}% 0 0)` }} />
      <div class="compare-divider" aria-hidden="true" />
      <span class="compare-tag left">before</span>
      <span class="compare-tag right">after</span>
      <input class="compare-range" type="range" min={0} max={100} step={0.1} value={pos} aria-label="compare position" onInput={(e) => setPos(Number((e.target as HTMLInputElement).value))} />
    </div>
  );
}
