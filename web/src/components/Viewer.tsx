import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { ViewMode } from '../workspace';

/**
 * The result stage: one fixed-size viewport (nothing moves when a result arrives) that shows the
 * result fitted to the screen, zoomed (wheel, +/−, 100 %) and panned (drag, arrow keys), as a
 * before/after slider, side by side, alone, or with the mask painted over it. The compare divider
 * is a keyboard slider: arrows move it 1 %, Shift+arrows 10 %, Home/End to the edges.
 */

export interface ViewerImages {
  before: string;
  after: string;
  mask?: string;
  beforeLabel?: string;
  afterLabel?: string;
}

const MODES: { id: ViewMode; label: string }[] = [
  { id: 'compare', label: 'Slider' },
  { id: 'side', label: 'Side by side' },
  { id: 'after', label: 'Result only' },
  { id: 'mask', label: 'Mask overlay' },
];

const ZOOM_STEPS = [0.1, 0.25, 0.33, 0.5, 0.67, 0.75, 1, 1.5, 2, 3, 4, 6, 8];

export function Viewer({ images, mode, onMode }: { images: ViewerImages; mode: ViewMode; onMode: (m: ViewMode) => void }) {
  const [natural, setNatural] = useState<{ w: number; h: number }>();
  const [box, setBox] = useState({ w: 0, h: 0 });
  const [zoom, setZoom] = useState<number | 'fit'>('fit');
  const [pan, setPan] = useState({ x: 0, y: 0 });
  const [pos, setPos] = useState(50);
  const stage = useRef<HTMLDivElement>(null);
  const drag = useRef<{ kind: 'pan' | 'divider'; x: number; y: number; pan: { x: number; y: number } } | undefined>(undefined);
  const effective = mode === 'mask' && !images.mask ? 'after' : mode;

  useLayoutEffect(() => {
    const el = stage.current;
    if (!el) return;
    const measure = () => setBox({ w: el.clientWidth, h: el.clientHeight });
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, [effective]);

  // A new result starts fitted and centred, the slider in the middle.
  useEffect(() => {
    setZoom('fit');
    setPan({ x: 0, y: 0 });
  }, [images.after]);

  const paneW = effective === 'side' ? Math.max(0, (box.w - 8) / 2) : box.w;
  const fit = natural && paneW > 0 && box.h > 0 ? Math.min(paneW / natural.w, box.h / natural.h) : 1;
  const scale = zoom === 'fit' ? fit : zoom;
  const w = (natural?.w ?? 0) * scale;
  const h = (natural?.h ?? 0) * scale;
  const clampPan = (p: { x: number; y: number }) => ({
    x: Math.max(-Math.max(0, (w - paneW) / 2), Math.min(Math.max(0, (w - paneW) / 2), p.x)),
    y: Math.max(-Math.max(0, (h - box.h) / 2), Math.min(Math.max(0, (h - box.h) / 2), p.y)),
  });
  const p = clampPan(pan);
  const left = (paneW - w) / 2 + p.x;
  const top = (box.h - h) / 2 + p.y;
  const zoomed = w > paneW + 1 || h > box.h + 1;

  const setScale = (next: number) => {
    const s = Math.min(8, Math.max(Math.min(fit, 0.1), next));
    // Keep the centre of the view where it is.
    setPan((old) => ({ x: (old.x * s) / scale, y: (old.y * s) / scale }));
    setZoom(Math.abs(s - fit) < 1e-6 ? 'fit' : s);
  };
  const stepZoom = (dir: 1 | -1) => {
    const next = dir > 0 ? ZOOM_STEPS.find((z) => z > scale * 1.01) : [...ZOOM_STEPS].reverse().find((z) => z < scale * 0.99);
    setScale(next ?? scale);
  };

  const layer = (src: string, alt: string, extra: Record<string, string> = {}, cls = '') => (
    <img class={`viewer-img ${cls}`} src={src} alt={alt} draggable={false} style={{ left: `${left}px`, top: `${top}px`, width: `${w}px`, height: `${h}px`, ...extra }} />
  );

  const onPointerDown = (e: PointerEvent) => {
    if (e.button !== 0) return;
    const onDivider = (e.target as HTMLElement).closest('.viewer-divider') !== null;
    // Fitted, the whole surface moves the divider (as on a phone); zoomed, it pans and the handle moves the divider.
    const kind = effective === 'compare' && (onDivider || !zoomed) ? 'divider' : zoomed ? 'pan' : undefined;
    if (!kind) return;
    (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
    drag.current = { kind, x: e.clientX, y: e.clientY, pan: p };
    if (kind === 'divider') moveDivider(e.clientX);
  };
  const moveDivider = (clientX: number) => {
    const rect = stage.current!.getBoundingClientRect();
    if (w > 0) setPos(Math.round(Math.max(0, Math.min(100, ((clientX - rect.left - left) / w) * 100)) * 10) / 10);
  };
  const onPointerMove = (e: PointerEvent) => {
    const d = drag.current;
    if (!d) return;
    if (d.kind === 'divider') moveDivider(e.clientX);
    else setPan(clampPan({ x: d.pan.x + e.clientX - d.x, y: d.pan.y + e.clientY - d.y }));
  };
  const onKeyDown = (e: KeyboardEvent) => {
    if ((e.target as HTMLElement).classList.contains('viewer-divider')) return;
    const step = e.shiftKey ? 100 : 30;
    const keys: Record<string, () => void> = {
      '+': () => stepZoom(1),
      '=': () => stepZoom(1),
      '-': () => stepZoom(-1),
      '0': () => setZoom('fit'),
      '1': () => setScale(1),
      ArrowLeft: () => setPan(clampPan({ x: p.x + step, y: p.y })),
      ArrowRight: () => setPan(clampPan({ x: p.x - step, y: p.y })),
      ArrowUp: () => setPan(clampPan({ x: p.x, y: p.y + step })),
      ArrowDown: () => setPan(clampPan({ x: p.x, y: p.y - step })),
    };
    const action = keys[e.key];
    if (action && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      action();
    }
  };
  const onDividerKey = (e: KeyboardEvent) => {
    const big = e.shiftKey ? 10 : 1;
    const moves: Record<string, number> = { ArrowLeft: -big, ArrowDown: -big, ArrowRight: big, ArrowUp: big, PageDown: -10, PageUp: 10, Home: -100, End: 100 };
    if (moves[e.key] === undefined) return;
    e.preventDefault();
    setPos((v) => Math.max(0, Math.min(100, Math.round(v + moves[e.key]!))));
  };

  const pane = (content: preact.ComponentChildren, label?: string) => (
    <div class="viewer-pane" style={{ width: `${paneW}px` }}>
      {content}
      {label && <span class="viewer-tag">{label}</span>}
    </div>
  );

  return (
    <div class="viewer">
      <div class="viewer-tools" role="toolbar" aria-label="result view">
        <div class="segmented" role="group" aria-label="view mode">
          {MODES.filter((m) => m.id !== 'mask' || images.mask).map((m) => (
            <button type="button" aria-pressed={effective === m.id} onClick={() => onMode(m.id)}>
              {m.label}
            </button>
          ))}
        </div>
        <div class="segmented" role="group" aria-label="zoom">
          <button type="button" onClick={() => stepZoom(-1)} aria-label="zoom out">
            −
          </button>
          <button type="button" aria-pressed={zoom === 'fit'} onClick={() => setZoom('fit')}>
            Fit
          </button>
          <button type="button" aria-pressed={zoom === 1} onClick={() => setScale(1)}>
            100 %
          </button>
          <button type="button" onClick={() => stepZoom(1)} aria-label="zoom in">
            +
          </button>
        </div>
        <output class="viewer-zoom" aria-live="polite" aria-label="zoom level">
          {Math.round(scale * 100)} %
        </output>
      </div>
      <div
        ref={stage}
        class={`viewer-stage${zoomed ? ' zoomed' : ''}${effective === 'side' ? ' side' : ''}`}
        data-mode={effective}
        tabIndex={0}
        aria-label="result image: + and − zoom, 0 fits, 1 shows pixels 1:1, arrow keys pan"
        onWheel={(e) => {
          e.preventDefault();
          setScale(scale * Math.exp(-e.deltaY * 0.0015));
        }}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={() => (drag.current = undefined)}
        onPointerCancel={() => (drag.current = undefined)}
        onKeyDown={onKeyDown}
      >
        {/* Loaded once (hidden) to learn the natural size before anything is laid out. */}
        <img class="viewer-probe" src={images.after} alt="" aria-hidden="true" onLoad={(e) => setNatural({ w: (e.target as HTMLImageElement).naturalWidth, h: (e.target as HTMLImageElement).naturalHeight })} />
        {natural &&
          (effective === 'side' ? (
            <>
              {pane(layer(images.before, images.beforeLabel ?? 'before'), images.beforeLabel ?? 'before')}
              {pane(layer(images.after, images.afterLabel ?? 'result', {}, 'viewer-after'), images.afterLabel ?? 'after')}
            </>
          ) : (
            pane(
              <>
                {layer(images.after, images.afterLabel ?? 'result', {}, 'viewer-after')}
                {effective === 'compare' && layer(images.before, images.beforeLabel ?? 'before', { clipPath: `inset(0 ${100 - pos}% 0 0)` }, 'viewer-before')}
                {effective === 'mask' && images.mask && layer(images.mask, 'mask', {}, 'viewer-mask')}
                {effective === 'compare' && (
                  <>
                    <div
                      class="viewer-divider"
                      style={{ left: `${left + (w * pos) / 100}px` }}
                      role="slider"
                      tabIndex={0}
                      aria-label="before/after divider"
                      aria-valuemin={0}
                      aria-valuemax={100}
                      aria-valuenow={Math.round(pos)}
                      aria-valuetext={`${Math.round(pos)} % before`}
                      onKeyDown={onDividerKey}
                    />
                    <span class="viewer-tag left">{images.beforeLabel ?? 'before'}</span>
                    <span class="viewer-tag right">{images.afterLabel ?? 'after'}</span>
                  </>
                )}
              </>,
            )
          ))}
      </div>
    </div>
  );
}
