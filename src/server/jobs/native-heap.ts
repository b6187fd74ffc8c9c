import { createRequire } from 'node:module';

/**
 * The C heap of a long-running server (glibc's malloc), tuned so that what a big job freed goes
 * back to the system.
 *
 * Why: glibc serves an allocation above its mmap threshold (128 KB) with a mapping of its own,
 * returned at free — but the first such free raises the threshold to that block's size (up to
 * 32 MB) and the heap's trim threshold to twice it. From then on a job's buffers of up to 32 MB
 * (ONNX Runtime's and libvips' per-thread work, image planes) come from the arena of the thread
 * that asked, and an arena's heap (64 MB at most) is shrunk only when its free top passes the trim
 * threshold, now up to 64 MB: never. Each big job on a fresh job thread left one more arena heap
 * resident (`REPEAT=4 node bench/server-memory.mjs
 * 2000 neural.fast`: the 64 MB anonymous mappings held 63, 125, … MB of freed memory; RSS after four
 * jobs 496 MB against a warm 260). Pinning the threshold at glibc's own default turns the raise
 * off (mallopt M_MMAP_THRESHOLD, as MALLOC_MMAP_THRESHOLD_ would at start), and malloc_trim after
 * each job hands back the free pages left inside the arenas.
 *
 * Called through koffi (a C FFI) on Linux with glibc; elsewhere (musl, macOS, Windows) or when the
 * user chose the allocator's settings (MALLOC_MMAP_THRESHOLD_ in the environment, or
 * ATELIER_MALLOC_TUNING=off, e.g. under jemalloc) it does nothing.
 */
interface GlibcHeap {
  mallopt(param: number, value: number): number;
  malloc_trim(pad: number): number;
}

/** glibc's mallopt parameter number for the mmap threshold (malloc.h). */
const M_MMAP_THRESHOLD = -3;
/** glibc's default threshold, kept fixed: large blocks stay mappings of their own, freed at once. */
const MMAP_THRESHOLD_BYTES = 128 * 1024;

let heap: GlibcHeap | null | undefined;

function glibcHeap(): GlibcHeap | null {
  if (heap !== undefined) return heap;
  heap = null;
  if (process.platform !== 'linux' || process.env.ATELIER_MALLOC_TUNING === 'off' || process.env.MALLOC_MMAP_THRESHOLD_ !== undefined) return heap;
  // glibc only: musl's libc has neither call (its name differs, and loading fails).
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  if (!header?.glibcVersionRuntime) return heap;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const libc = koffi.load('libc.so.6');
    heap = { mallopt: libc.func('int mallopt(int, int)'), malloc_trim: libc.func('int malloc_trim(size_t)') };
  } catch {
    heap = null; // no FFI for this platform: glibc's defaults stay
  }
  return heap;
}

/** Pin glibc's mmap threshold (see above); true when the allocator was tuned. Call once, at start. */
export function pinMallocThreshold(): boolean {
  const h = glibcHeap();
  return h !== null && h.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) === 1;
}

/** Give the free pages inside glibc's arenas back to the system (after a job); true when glibc did. */
export function trimNativeHeap(): boolean {
  const h = glibcHeap();
  return h !== null && h.malloc_trim(0) === 1;
}
