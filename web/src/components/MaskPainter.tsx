import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * Paint where the effect applies, over the content image. Strokes are kept on a canvas at the
 * image's aspect ratio; the mask sent is greyscale (white: apply, black: keep the content), which
 * the pipeline resizes to the working size.
 */
const MAX_SIDE = 1024;

export function MaskPainter({ content, onMask }: { content: File; onMask: (m: Blob | null) => void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [url, setUrl] = useState<string>();
  const [size, setSize] = useState<[number, number]>();
  const [mode, setMode] = useState<'brush' | 'eraser'>('brush');
  const [brush, setBrush] = useState(40);
  const drawing = useRef<{ x: number; y: number } | null>(null);
  const dirty = useRef(false);

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
            aria-label="mask canvas"
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
      <small class="muted">Painted areas get the style; the rest keeps the content. No paint: the whole image.</small>
    </div>
  );
}
