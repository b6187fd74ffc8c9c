import { Graph, type Tensor } from '../graph/graph.js';
import { attr } from '../graph/onnx-model.js';
import { compile } from '../runtime.js';
import type { PartRunner } from '../switched-runner.js';

/**
 * The two float64 matrix products of the feature transforms on ONNX Runtime's DGEMM (MLAS, the
 * session's threads): a block's Gram matrix X·Xᵀ (covariances) and A·X (the affine transform),
 * X being channels × pixels. In JavaScript these ran at about 1.2 and 3.6 G multiply-adds per
 * second; DGEMM does ~14 per CPU-second and uses every thread (scratch measurement, n = 256,
 * 16 384 pixels), which is what PyTorch's BLAS gives its reference. float64 throughout, as the
 * whitening needs. The sessions are uncached (the runtime's cache could evict one under a run)
 * and live as long as the process, one pair per thread count; their arenas hold one block.
 */
/** ONNX TensorProto element types for Cast. */
const ONNX_FLOAT = 1;
const ONNX_DOUBLE = 11;

/** The four graphs, by name. */
export type ProductGraph = 'gram' | 'product' | 'centredGram' | 'affine';

/** What runs one of them: a session of its own (`Runner`) or a part of a switched one (`PartRunner`). */
type ProductRunner = Pick<PartRunner, 'run'>;

export class Float64Products {
  private static readonly byThreads = new Map<number, Promise<Float64Products>>();

  private constructor(
    private readonly gramRunner: ProductRunner,
    private readonly productRunner: ProductRunner,
    private readonly centredGramRunner: ProductRunner,
    private readonly affineRunner: ProductRunner,
  ) {}

  /** Sessions of their own, one set per thread count, kept for the process. */
  static get(threads: number): Promise<Float64Products> {
    let pending = Float64Products.byThreads.get(threads);
    if (!pending) {
      pending = (async () => {
        const options = { threads, cache: false, memory: 'arena' as const };
        const g = Float64Products.graphs();
        const runners = await Promise.all([compile(g.gram, options), compile(g.product, options), compile(g.centredGram, options), compile(g.affine, options)]);
        return new Float64Products(...runners);
      })();
      pending.catch(() => Float64Products.byThreads.delete(threads));
      Float64Products.byThreads.set(threads, pending);
    }
    return pending;
  }

  /**
   * The products on graphs compiled into another session (`graphs()` as parts of a switched
   * session): a WCT cascade runs them in its own session, so one thread pool serves the whole
   * transfer. With sessions of their own, each pool's idle worker spins for a while (ORT spins
   * 2²⁰ pauses before it sleeps, tens of milliseconds) after every run, taking one of two cores
   * from the other session's threads, and a cascade switches between them ~25 times a run.
   */
  static on(runners: Record<ProductGraph, ProductRunner>): Float64Products {
    return new Float64Products(runners.gram, runners.product, runners.centredGram, runners.affine);
  }

  /** The four graphs (float64; see the class comment). */
  static graphs(): Record<ProductGraph, Graph> {
    const gram = new Graph('float64');
    const x = gram.input('x', ['n', 'k']);
    gram.output('gram', gram.onnx('Gemm', [x, x], [{ shape: ['n', 'n'] }], { transB: attr.i(1) })[0]!);
    const product = new Graph('float64');
    const a = product.input('a', ['m', 'n']);
    const y = product.input('x', ['n', 'k']);
    product.output('y', product.onnx('MatMul', [a, y], [{ shape: ['m', 'k'] }])[0]!);
    // The same two on a float32 feature map's columns [start, end) directly: the slice, the
    // widening to float64 and the centring run in ORT too, instead of JavaScript loops that
    // cost as much as the products (profile of neural.wct cd16x at 512²).
    const slice = (g: Graph, x: Tensor, start: Tensor, end: Tensor): Tensor =>
      g.onnx('Cast', [g.onnx('Slice', [x, start, end, g.int64([1])], [{ shape: ['n', 'k'], dtype: 'float32' }])[0]!], [{ shape: ['n', 'k'] }], { to: attr.i(ONNX_DOUBLE) })[0]!;
    const centredGram = new Graph('float64');
    {
      const xs = slice(centredGram, centredGram.input('x', ['n', 'p'], 'float32'), centredGram.input('start', [1], 'int64'), centredGram.input('end', [1], 'int64'));
      const d = centredGram.onnx('Sub', [xs, centredGram.input('shift', ['n', 1])], [{ shape: ['n', 'k'] }])[0]!;
      centredGram.output('gram', centredGram.onnx('Gemm', [d, d], [{ shape: ['n', 'n'] }], { transB: attr.i(1) })[0]!);
      centredGram.output('sums', centredGram.onnx('ReduceSum', [d, centredGram.int64([1])], [{ shape: ['n'] }], { keepdims: attr.i(0) })[0]!);
    }
    const affine = new Graph('float64');
    {
      const xs = slice(affine, affine.input('x', ['m', 'p'], 'float32'), affine.input('start', [1], 'int64'), affine.input('end', [1], 'int64'));
      const d = affine.onnx('Sub', [xs, affine.input('centre', ['m', 1])], [{ shape: ['m', 'k'] }])[0]!;
      const y = affine.onnx('MatMul', [affine.input('a', ['m', 'm']), d], [{ shape: ['m', 'k'] }])[0]!;
      const shifted = affine.onnx('Add', [y, affine.input('target', ['m', 1])], [{ shape: ['m', 'k'] }])[0]!;
      affine.output('y', affine.onnx('Cast', [shifted], [{ shape: ['m', 'k'], dtype: 'float32' }], { to: attr.i(ONNX_FLOAT) })[0]!);
    }
    return { gram, product, centredGram, affine };
  }

  /** X·Xᵀ for X of `rows` × `columns` (row-major, `x.length` = rows·columns). */
  async gram(x: Float64Array, rows: number, columns: number): Promise<Float64Array> {
    const out = await this.gramRunner.run({ x: { data: x, shape: [rows, columns] } });
    return out.gram!.data as Float64Array;
  }

  /**
   * For a float32 map X of `rows` × `columns` (row-major) and D = X[:, start:end] − shift (float64):
   * D·Dᵀ and the row sums of D.
   */
  async centredGram(x: Float32Array, rows: number, columns: number, shift: Float64Array, start: number, end: number): Promise<{ gram: Float64Array; sums: Float64Array }> {
    const out = await this.centredGramRunner.run({
      x: { data: x, shape: [rows, columns] },
      shift: { data: shift, shape: [rows, 1] },
      start: { data: BigInt64Array.of(BigInt(start)), shape: [1] },
      end: { data: BigInt64Array.of(BigInt(end)), shape: [1] },
    });
    return { gram: out.gram!.data as Float64Array, sums: out.sums!.data as Float64Array };
  }

  /** float32(A·(X[:, start:end] − centre) + target) for a float32 map X of `rows` × `columns` and A of `rows` × `rows`. */
  async affine(x: Float32Array, rows: number, columns: number, a: Float64Array, centre: Float64Array, target: Float64Array, start: number, end: number): Promise<Float32Array> {
    const out = await this.affineRunner.run({
      x: { data: x, shape: [rows, columns] },
      a: { data: a, shape: [rows, rows] },
      centre: { data: centre, shape: [rows, 1] },
      target: { data: target, shape: [rows, 1] },
      start: { data: BigInt64Array.of(BigInt(start)), shape: [1] },
      end: { data: BigInt64Array.of(BigInt(end)), shape: [1] },
    });
    return out.y!.data as Float32Array;
  }

  /** A·X for A of `rows` × `inner` and X of `inner` × `columns` (row-major). */
  async product(a: Float64Array, rows: number, x: Float64Array, inner: number, columns: number): Promise<Float64Array> {
    const out = await this.productRunner.run({ a: { data: a, shape: [rows, inner] }, x: { data: x, shape: [inner, columns] } });
    return out.y!.data as Float64Array;
  }
}
