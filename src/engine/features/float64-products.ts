import { Graph } from '../graph/graph.js';
import { attr } from '../graph/onnx-model.js';
import { compile, type Runner } from '../runtime.js';

/**
 * The two float64 matrix products of the feature transforms on ONNX Runtime's DGEMM (MLAS, the
 * session's threads): a block's Gram matrix X·Xᵀ (covariances) and A·X (the affine transform),
 * X being channels × pixels. In JavaScript these ran at about 1.2 and 3.6 G multiply-adds per
 * second; DGEMM does ~14 per CPU-second and uses every thread (scratch measurement, n = 256,
 * 16 384 pixels), which is what PyTorch's BLAS gives its reference. float64 throughout, as the
 * whitening needs. The sessions are uncached (the runtime's cache could evict one under a run)
 * and live as long as the process, one pair per thread count; their arenas hold one block.
 */
export class Float64Products {
  private static readonly byThreads = new Map<number, Promise<Float64Products>>();

  private constructor(
    private readonly gramRunner: Runner,
    private readonly productRunner: Runner,
  ) {}

  static get(threads: number): Promise<Float64Products> {
    let pending = Float64Products.byThreads.get(threads);
    if (!pending) {
      pending = (async () => {
        const options = { threads, cache: false, memory: 'arena' as const };
        const gram = new Graph('float64');
        const x = gram.input('x', ['n', 'k']);
        gram.output('gram', gram.onnx('Gemm', [x, x], [{ shape: ['n', 'n'] }], { transB: attr.i(1) })[0]!);
        const product = new Graph('float64');
        const a = product.input('a', ['m', 'n']);
        const y = product.input('x', ['n', 'k']);
        product.output('y', product.onnx('MatMul', [a, y], [{ shape: ['m', 'k'] }])[0]!);
        const [g, p] = await Promise.all([compile(gram, options), compile(product, options)]);
        return new Float64Products(g, p);
      })();
      pending.catch(() => Float64Products.byThreads.delete(threads));
      Float64Products.byThreads.set(threads, pending);
    }
    return pending;
  }

  /** X·Xᵀ for X of `rows` × `columns` (row-major, `x.length` = rows·columns). */
  async gram(x: Float64Array, rows: number, columns: number): Promise<Float64Array> {
    const out = await this.gramRunner.run({ x: { data: x, shape: [rows, columns] } });
    return out.gram!.data as Float64Array;
  }

  /** A·X for A of `rows` × `inner` and X of `inner` × `columns` (row-major). */
  async product(a: Float64Array, rows: number, x: Float64Array, inner: number, columns: number): Promise<Float64Array> {
    const out = await this.productRunner.run({ a: { data: a, shape: [rows, inner] }, x: { data: x, shape: [inner, columns] } });
    return out.y!.data as Float64Array;
  }
}
