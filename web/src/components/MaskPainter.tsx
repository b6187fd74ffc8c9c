import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * Paint where the effect applies, over the content image. Strokes are kept on a canvas at the
 * image's aspect ratio; the mask sent is greyscale (white: apply, black: keep the content), which
 * the pipeline resizes to the working size.
 *
 * Without a pointer: the canvas takes focus and shows a brush cursor; the arrow keys move it (2 %
 * of the side a press, 10 % with Shift), Space paints a dab and puts the brush down so that moves
 * paint, Space again lifts it, E switches brush and eraser. "Fill all" and "Invert" cover the
 * common masks in one press.
 */
const MAX_SIDE = 1024;
const KEY_STEP = 0.02;
const KEY_STEP_LARGE = 0.1;

export function MaskPainter({ content, onMask }: { content: File; onMask: (m: Blob | null) => void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [url, setUrl] = useState<string>();
  const [size, setSize] = useState<[number, number]>();
  const [mode, setMode] = useState<'brush' | 'eraser'>('brush');
  const [brush, setBrush] = useState(40);
  const drawing = useRef<{ x: number; y: number } | null>(null);
  const dirty = useRef(false);
  // Keyboard brush: where it is (fractions of the canvas) and whether it paints as it moves.
  const [cursor, setCursor] = useState({ x: 0.5, y: 0.5 });
  const [penDown, setPenDown] = useState(false);
  const [focused, setFocused] = useState(false);

  useEffect(() => {
    const u = URL.createObjectURL(content);
    setUrl(u);
    const img = new Image();
    img.onload = () => {
      const scale = Math.min(1, MAX_SIDE / Math.max(img.naturalWidth, img.naturalHeight));
      setSize([Math.round(img.naturalWidth * scale), Math.round(img.naturalHeight * scale)]);
    };
    img.src = u;
    onMask(null);
    return () => URL.revokeObjectURL(u);
  }, [content]);

  const point = (e: PointerEvent) => {
    const c = canvas.current!;
    const r = c.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * c.width, y: ((e.clientY - r.top) / r.height) * c.height, scale: c.width / r.width };
  };
  const stroke = (from: { x: number; y: number }, to: { x: number; y: number; scale: number }) => {
    const ctx = canvas.current!.getContext('2d')!;
    ctx.globalCompositeOperation = mode === 'brush' ? 'source-over' : 'destination-out';
    ctx.strokeStyle = 'rgb(255, 64, 129)';
    ctx.lineWidth = brush * to.scale;
    ctx.lineCap = 'round';
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
    dirty.current = true;
  };
  const at = (p: { x: number; y: number }) => {
    const c = canvas.current!;
    return { x: p.x * c.width, y: p.y * c.height, scale: c.width / c.getBoundingClientRect().width };
  };
  const onKey = (e: KeyboardEvent) => {
    const step = e.shiftKey ? KEY_STEP_LARGE : KEY_STEP;
    const moves: Record<string, [number, number]> = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const move = moves[e.key];
    if (move) {
      e.preventDefault();
      const next = { x: Math.min(1, Math.max(0, cursor.x + move[0])), y: Math.min(1, Math.max(0, cursor.y + move[1])) };
      if (penDown) {
        stroke(at(cursor), at(next));
        exportMask();
      }
      setCursor(next);
    } else if (e.key === ' ' || e.key === 'Enter') {
      e.preventDefault();
      if (!penDown) {
        stroke(at(cursor), at(cursor));
        exportMask();
      }
      setPenDown(!penDown);
    } else if (e.key === 'e' || e.key === 'E') {
      setMode(mode === 'brush' ? 'eraser' : 'brush');
    }
  };
  const fill = (how: 'all' | 'invert') => {
    const c = canvas.current;
    if (!c) return;
    const ctx = c.getContext('2d')!;
    ctx.globalCompositeOperation = how === 'all' ? 'source-over' : 'xor';
    ctx.fillStyle = 'rgb(255, 64, 129)';
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.globalCompositeOperation = 'source-over';
    dirty.current = true;
    exportMask();
  };
  const exportMask = () => {
    const c = canvas.current!;
    const out = document.createElement('canvas');
    out.width = c.width;
    out.height = c.height;
    const ctx = out.getContext('2d')!;
    ctx.drawImage(c, 0, 0);
    ctx.globalCompositeOperation = 'source-in';
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.globalCompositeOperation = 'destination-over';
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, out.width, out.height);
    out.toBlob((b) => onMask(b), 'image/png');
  };

  return (
    <div class="mask-painter">
      <div class="mask-stage" style={size ? { aspectRatio: `${size[0]} / ${size[1]}` } : undefined}>
        {url && <img src={url} alt="content under the mask" />}
        {size && (
          <canvas
            ref={canvas}
            width={size[0]}
            height={size[1]}
            tabIndex={0}
            aria-label="mask canvas"
            aria-describedby="mask-help"
            onKeyDown={onKey}
            onFocus={() => setFocused(true)}
            onBlur={() => (setFocused(false), setPenDown(false))}
            onPointerDown={(e) => {
              (e.target as HTMLCanvasElement).setPointerCapture(e.pointerId);
              const p = point(e);
              drawing.current = p;
              stroke(p, p);
            }}
            onPointerMove={(e) => {
              if (!drawing.current) return;
              const p = point(e);
              stroke(drawing.current, p);
              drawing.current = p;
            }}
            onPointerUp={() => {
              drawing.current = null;
              if (dirty.current) exportMask();
            }}
          />
        )}
        {size && focused && (
          <span
            class={`mask-cursor${penDown ? ' down' : ''}`}
            aria-hidden="true"
            style={{ left: `${cursor.x * 100}%`, top: `${cursor.y * 100}%`, width: `${brush}px`, height: `${brush}px` }}
          />
        )}
      </div>
      <div class="mask-tools">
        <div class="segmented" role="group" aria-label="mask tool">
          <button type="button" aria-pressed={mode === 'brush'} onClick={() => setMode('brush')}>
            Brush
          </button>
          <button type="button" aria-pressed={mode === 'eraser'} onClick={() => setMode('eraser')}>
            Eraser
          </button>
        </div>
        <label class="brush-size">
          Size <input type="range" min={4} max={160} value={brush} onInput={(e) => setBrush(Number((e.target as HTMLInputElement).value))} />
        </label>
        <button type="button" class="small" onClick={() => fill('all')}>
          Fill all
        </button>
        <button type="button" class="small" onClick={() => fill('invert')}>
          Invert
        </button>
        <button
          type="button"
          class="link"
          onClick={() => {
            const c = canvas.current;
            c?.getContext('2d')!.clearRect(0, 0, c.width, c.height);
            dirty.current = false;
            onMask(null);
          }}
        >
          Clear
        </button>
      </div>
      <small class="muted" id="mask-help">
        Painted areas get the style; the rest keeps the content. No paint: the whole image. Keyboard: focus the picture, arrows move, Space paints, E erases.
      </small>
    </div>
  );
}
