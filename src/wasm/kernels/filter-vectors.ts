// Neuron Merging kernels on a layer's filter vectors given as weight rows plus an optional appended
// value per row (the bias of docs/methods.md §2.4): the rows are copied straight into wasm memory, so
// the N x (D + 1) matrix is never built in JS, and only the rows a kernel reads are copied. Each result
// is bit-identical to kernels/reduce.ts rowReduce / kernels/merge.ts mergePartners on the built matrix:
// the same kernels run on the same row contents (row reductions and cosines are per row, independent
// of where a row sits).
//
// Memory is bounded by blocks of rows: the norms stream the rows through a block buffer, and the
// partner search holds the kept vectors once (normalised) plus one block of removed rows and its
// block x kept cosines, never the removed x kept matrix (1 GB for a 32,768-wide layer at ratio 0.5).
// Each removed row's partner depends on its own cosine row only, so the blocks give the one-call
// result bit for bit.
import { PrunekitError } from "../../errors.ts";
import type { Arena, Buf } from "../arena.ts";
import { checkIndices, checkLength, checkSize } from "../check.ts";
import { type Wasm, withArena } from "../instance.ts";
import { distanceCosineCrossUnit, distanceNormalizeRows } from "./distance.ts";
import {
  checkMergeBn,
  type MergeBnFormula,
  type MergeBnParams,
  type MergePartners,
  type MergeSelectBufs,
  mergeSelectBn,
  mergeSelectPlain,
} from "./merge.ts";
import { type RowReduction, reduceRows } from "./reduce.ts";

/** Filter vectors v_n = [weights_n ; appended_n], or v_n = weights_n without `appended`. */
export interface FilterVectors {
  /** rows x cols f32, row-major: row n holds filter n's weights. May be larger (only the start is read). */
  weights: Float32Array;
  /** N, the number of filters. */
  rows: number;
  /** D, weights per filter. */
  cols: number;
  /** One value per filter appended to its vector (the bias, §2.4), or undefined. */
  appended?: ArrayLike<number> | undefined;
}

/** The vector length (D, or D + 1 with `appended`), after checking the sizes. */
export function vectorLen(what: string, v: FilterVectors): number {
  checkSize(`${what} rows`, v.rows);
  checkSize(`${what} cols`, v.cols);
  if (v.weights.length < v.rows * v.cols) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `${what}: weights has ${v.weights.length} elements, expected at least ${v.rows} x ${v.cols} = ${v.rows * v.cols}`,
    );
  }
  if (v.appended === undefined) return v.cols;
  checkLength(`${what} appended`, v.appended, v.rows);
  return v.cols + 1;
}

/**
 * Elements of one block of the streamed loops: a block of removed rows holds at most this many vector
 * elements, and its cosines against the kept rows at most this many entries (16 MB of f32 each).
 */
export const PARTNER_BLOCK_ELEMENTS: number = 1 << 22;

/**
 * Rows per block of the streamed norm and partner loops for vectors of `len` elements against
 * `keptLen` kept rows: as many as {@link PARTNER_BLOCK_ELEMENTS} allows, a multiple of 32 (the
 * cosine kernel's row block) when that is at least 32, else of 4 (its register tile), at least 4.
 * @example
 * partnerBlockRows(2867, 25089); // 160
 */
export function partnerBlockRows(keptLen: number, len: number): number {
  const rows = Math.floor(PARTNER_BLOCK_ELEMENTS / Math.max(1, keptLen, len));
  return Math.max(4, rows >= 32 ? rows - (rows % 32) : rows - (rows % 4));
}

/**
 * Copy vectors `index[from .. from + count)` (rows from .. from + count - 1 when `index` is undefined)
 * into `dst`, one row of `len` each.
 */
export function copyVectorsIn(
  arena: Arena,
  v: FilterVectors,
  index: ArrayLike<number> | undefined,
  from: number,
  count: number,
  dst: Buf,
): void {
  const out = arena.viewF32(dst);
  const d = v.cols;
  const appended = v.appended;
  if (index === undefined && appended === undefined) {
    out.set(v.weights.subarray(from * d, (from + count) * d));
    return;
  }
  const len = appended === undefined ? d : d + 1;
  for (let i = 0; i < count; i++) {
    const row = index === undefined ? from + i : index[from + i]!;
    out.set(v.weights.subarray(row * d, row * d + d), i * len);
    if (appended !== undefined) out[i * len + d] = appended[row]!;
  }
}

/** The first `length` elements of an arena buffer, as a buffer (kernel wrappers check exact lengths). */
function head(buf: Buf, length: number): Buf {
  return length === buf.length ? buf : { ptr: buf.ptr, length };
}

/** Elements `from .. from + length` of an arena buffer of 4-byte (or, with `bytes`, wider) elements. */
export function slice(buf: Buf, from: number, length: number, bytes = 4): Buf {
  return { ptr: buf.ptr + from * bytes, length };
}

/**
 * Row L1 or L2 norms of filter vectors (reduce_row_l1 / reduce_row_l2), as rowReduce returns them
 * for the built N x len matrix. The rows stream through one block buffer.
 * @returns N values.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch.
 * @example
 * filterVectorNorms(w, "l1", { weights: Float32Array.of(1, -2, 3, 4), rows: 2, cols: 2, appended: [1, -1] });
 * // [4, 8]
 */
export function filterVectorNorms(
  w: Wasm,
  kind: Exclude<RowReduction, "sum">,
  v: FilterVectors,
): Float32Array {
  const len = vectorLen("filterVectorNorms", v);
  const block = Math.min(v.rows, partnerBlockRows(0, len));
  return withArena(w, (arena) => {
    const x = arena.allocF32(block * len);
    const out = arena.allocF32(v.rows);
    for (let r0 = 0; r0 < v.rows; r0 += block) {
      const rows = Math.min(block, v.rows - r0);
      copyVectorsIn(arena, v, undefined, r0, rows, x);
      reduceRows(w, kind, head(x, rows * len), slice(out, r0, rows), rows, len);
    }
    return arena.viewF32(out).slice();
  });
}

/** Options of the partner search (docs/methods.md §2.4 / §2.5). */
export interface PartnerOptions {
  threshold: number;
  bn?: MergeBnParams | undefined;
  lambda?: number;
  formula?: MergeBnFormula;
}

/**
 * Kept vectors `kept[from .. from + count)` on one instance, normalised (distance_normalize_rows) for
 * the cosines of removed blocks against them; their L2 norms (reduce_row_l2, before normalising) are
 * kept for the selection. The rows are copied in by {@link KeptPart.load} in any number of calls, in
 * order. Used by the partner search on the coordinating instance and by each worker.
 */
export class KeptPart {
  /** count x len f32: the unit kept rows. */
  readonly unit: Buf;
  /** count f32: their L2 norms. */
  readonly norms: Buf;
  private loaded = 0;

  constructor(
    private readonly w: Wasm,
    arena: Arena,
    readonly count: number,
    readonly len: number,
  ) {
    checkSize("KeptPart count", count);
    checkSize("KeptPart len", len);
    this.unit = arena.allocF32(count * len);
    this.norms = arena.allocF32(count);
  }

  /** Append `count` raw vectors (count x len f32, e.g. a message from the coordinator). */
  loadRows(rows: Float32Array, count: number): void {
    this.checkRoom(count);
    checkLength("KeptPart rows", rows, count * this.len);
    this.w.arena.viewF32(this.unit).set(rows, this.loaded * this.len);
    this.finish(count);
  }

  /** Append vectors `index[from .. from + count)` of `v`, copied straight in. */
  load(v: FilterVectors, index: ArrayLike<number>, from: number, count: number): void {
    this.checkRoom(count);
    copyVectorsIn(
      this.w.arena,
      v,
      index,
      from,
      count,
      slice(this.unit, this.loaded * this.len, count * this.len),
    );
    this.finish(count);
  }

  /** cos (rows x count f32) = cosines of `rows` unit removed vectors (rows x len) against this part. */
  cosines(unitRemoved: Buf, rows: number, cos: Buf): void {
    if (this.loaded !== this.count) {
      throw new PrunekitError("INVALID_ARGUMENT", `KeptPart: ${this.loaded} of ${this.count} rows loaded`);
    }
    distanceCosineCrossUnit(this.w, unitRemoved, this.unit, cos, rows, this.count, this.len);
  }

  private checkRoom(count: number): void {
    if (!Number.isInteger(count) || this.loaded + count > this.count) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `KeptPart: ${count} more rows do not fit (${this.loaded} of ${this.count} loaded)`,
      );
    }
  }

  private finish(count: number): void {
    const rows = slice(this.unit, this.loaded * this.len, count * this.len);
    reduceRows(this.w, "l2", rows, slice(this.norms, this.loaded, count), count, this.len);
    distanceNormalizeRows(this.w, rows, rows, count, this.len);
    this.loaded += count;
  }
}

/**
 * The coordinator's side of one partner search: the selection buffers (norms of every filter, the
 * removed and kept indices, partners and scales, the BatchNorm entries) and one block of removed rows
 * with its cosines. For each block: {@link PartnerSelection.loadBlock} copies the removed rows in,
 * takes their norms and normalises them; the caller fills {@link PartnerSelection.cos} (block x kept,
 * from any number of {@link KeptPart}s); {@link PartnerSelection.select} picks the block's partners.
 */
export class PartnerSelection {
  /** Removed rows per block. */
  readonly blockRows: number;
  /** blockRows x len f32: the current block's unit removed rows. */
  readonly unit: Buf;
  /** blockRows x kept f32: the current block's cosines, row-major. */
  readonly cos: Buf;
  private readonly bufs: MergeSelectBufs;
  private readonly blockNorms: Buf;
  private readonly bnBufs: Parameters<typeof mergeSelectBn>[2] | undefined;

  constructor(
    private readonly w: Wasm,
    arena: Arena,
    private readonly v: FilterVectors,
    private readonly removed: ArrayLike<number>,
    private readonly kept: ArrayLike<number>,
    private readonly opts: PartnerOptions,
    blockRows?: number,
  ) {
    const len = vectorLen("PartnerSelection", v);
    const n = v.rows;
    checkIndices("PartnerSelection removed", removed, n);
    checkIndices("PartnerSelection kept", kept, n);
    const bn = opts.bn;
    if (bn !== undefined) checkMergeBn("PartnerSelection", bn, n);
    const r = removed.length;
    const p = kept.length;
    this.blockRows = Math.max(1, Math.min(r, blockRows ?? partnerBlockRows(p, len)));
    this.bufs = {
      cos: arena.allocF32(0),
      norm: arena.allocF32(n),
      removed: arena.copyInI32(removed),
      kept: arena.copyInI32(kept),
      partner: arena.allocI32(r),
      scale: arena.allocF64(r),
    };
    // The selection reads norm[removed[i]] and norm[kept[j]] only.
    arena.viewF32(this.bufs.norm).fill(0);
    this.unit = arena.allocF32(this.blockRows * len);
    this.blockNorms = arena.allocF32(this.blockRows);
    this.cos = arena.allocF32(this.blockRows * p);
    this.bnBufs =
      bn === undefined
        ? undefined
        : {
            gamma: arena.copyInF64(bn.gamma),
            beta: arena.copyInF64(bn.beta),
            mean: arena.copyInF64(bn.mean),
            var: arena.copyInF64(bn.var),
            scratch: arena.allocF64(2),
            eps: bn.eps,
          };
  }

  /** Vector length. */
  get len(): number {
    return this.v.appended === undefined ? this.v.cols : this.v.cols + 1;
  }

  /** Record the L2 norms (f32, from a {@link KeptPart}) of kept positions from .. from + norms.length. */
  setKeptNorms(from: number, norms: Float32Array): void {
    const norm = this.w.arena.viewF32(this.bufs.norm);
    for (let j = 0; j < norms.length; j++) norm[this.kept[from + j]!] = norms[j]!;
  }

  /** Copy removed rows r0 .. r0 + rows in, record their norms, normalise them into `unit`. */
  loadBlock(r0: number, rows: number): Buf {
    const len = this.len;
    const unit = head(this.unit, rows * len);
    copyVectorsIn(this.w.arena, this.v, this.removed, r0, rows, unit);
    const norms = head(this.blockNorms, rows);
    reduceRows(this.w, "l2", unit, norms, rows, len);
    const nb = this.w.arena.viewF32(norms);
    const norm = this.w.arena.viewF32(this.bufs.norm);
    for (let i = 0; i < rows; i++) norm[this.removed[r0 + i]!] = nb[i]!;
    distanceNormalizeRows(this.w, unit, unit, rows, len);
    return unit;
  }

  /** Partners of removed rows r0 .. r0 + rows from the first rows x kept entries of `cos`. */
  select(r0: number, rows: number): void {
    const b = this.bufs;
    const block: MergeSelectBufs = {
      cos: head(this.cos, rows * b.kept.length),
      norm: b.norm,
      removed: slice(b.removed, r0, rows),
      kept: b.kept,
      partner: slice(b.partner, r0, rows),
      scale: slice(b.scale, r0, rows, 8),
    };
    if (this.bnBufs === undefined) mergeSelectPlain(this.w, block, this.opts.threshold);
    else {
      mergeSelectBn(
        this.w,
        block,
        this.bnBufs,
        this.opts.threshold,
        this.opts.lambda ?? 0.85,
        this.opts.formula ?? "exact",
      );
    }
  }

  /** Every removed row's partner and scale (after every block was selected). */
  result(): MergePartners {
    const arena = this.w.arena;
    return {
      partner: arena.viewI32(this.bufs.partner).slice(),
      scale: arena.viewF64(this.bufs.scale).slice(),
    };
  }
}

/**
 * Neuron Merging partner search of one layer (docs/methods.md §2.4 / §2.5), as kernels/merge.ts
 * mergePartners on the built vectors, in one arena session: the kept vectors are copied in once, their
 * L2 norms taken (reduce_row_l2) and normalised (distance_normalize_rows); then block by block of
 * removed rows, the same for the block, its cosines against the kept rows (distance_cosine_cross_unit),
 * and merge_select_plain, or merge_select_bn when `bn` is given. Memory: kept x len + block x (len +
 * kept) f32, never removed x kept.
 * @param removed original indices of the removed filters. @param kept original indices of the kept ones.
 * @param opts the selection options; `blockRows` overrides {@link partnerBlockRows} (same result).
 * @returns partner kept positions (or -1) and scales, one per entry of `removed`.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch, bad indices or bad BatchNorm entries.
 * @example
 * filterVectorPartners(w, { weights: Float32Array.of(1, 2, 2, 4), rows: 2, cols: 2 }, [0], [1], { threshold: 0.45 });
 * // partner [0], scale [0.5]
 */
export function filterVectorPartners(
  w: Wasm,
  v: FilterVectors,
  removed: ArrayLike<number>,
  kept: ArrayLike<number>,
  opts: PartnerOptions & { blockRows?: number },
): MergePartners {
  const len = vectorLen("filterVectorPartners", v);
  return withArena(w, (arena) => {
    const sel = new PartnerSelection(w, arena, v, removed, kept, opts, opts.blockRows);
    const part = new KeptPart(w, arena, kept.length, len);
    part.load(v, kept, 0, kept.length);
    sel.setKeptNorms(0, arena.viewF32(part.norms));
    for (let r0 = 0; r0 < removed.length; r0 += sel.blockRows) {
      const rows = Math.min(sel.blockRows, removed.length - r0);
      const unit = sel.loadBlock(r0, rows);
      part.cosines(unit, rows, head(sel.cos, rows * kept.length));
      sel.select(r0, rows);
    }
    return sel.result();
  });
}
