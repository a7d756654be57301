// Wrappers of assembly/affinity.ts: affinity propagation (EPruner, docs/methods.md §3.3, §3.7) on a
// float64 similarity matrix, and the policy around the kernels (degenerate inputs, tie-breaking noise,
// what happens without convergence) that the plain reference (src/wasm/reference/affinity.ts) shares.
import { PrunekitError } from "../../errors.ts";
import type { Buf } from "../arena.ts";
import { checkLength, checkSize } from "../check.ts";
import { kernel, type Wasm, withArena } from "../instance.ts";
import { seededNormals } from "../seeded-random.ts";

/** What to do when the message passing does not converge within maxIter (docs/methods.md §3.7). */
export type NoConvergenceMode = "lastIteration" | "keepAll" | "error";

/** Options of affinity propagation (docs/methods.md §3.3, §3.7). */
export interface AffinityOptions {
  /** Damping factor in [0.5, 1) (§3.3: 0.5). */
  damping: number;
  /** Iteration cap (§3.3: 200). */
  maxIterations: number;
  /** Convergence window (§3.3: 15). */
  convergenceIterations: number;
  /**
   * Without convergence (§3.7): `lastIteration` (default) uses the final iteration's flags,
   * `keepAll` makes every point an exemplar, `error` throws `NOT_CONVERGED`.
   */
  onNoConvergence: NoConvergenceMode;
  /**
   * Seed of the optional tie-breaking noise (§3.3 step 2): `(2.2e-16·S + 2.2e-306)·g` is added to
   * every entry of S (preferences included), with g standard normal (wasm/seeded-random.ts). Off
   * when undefined (the default).
   */
  noiseSeed?: number;
}

/** Defaults of {@link AffinityOptions}: docs/methods.md §3.3 (damping 0.5, 200 iterations, window 15), §3.7. */
export const AFFINITY_DEFAULTS: AffinityOptions = {
  damping: 0.5,
  maxIterations: 200,
  convergenceIterations: 15,
  onNoConvergence: "lastIteration",
};

/** Machine epsilon of float64: the relative size of the tie-breaking noise (§3.3 step 2). */
export const TIE_EPS = 2.220446049250313e-16;
/** 100 × the smallest normal float64: the absolute part of the tie-breaking noise (§3.3 step 2). */
export const TIE_TINY = 2.2250738585072014e-306;

/** How the exemplars were decided. */
export type AffinityOutcome =
  /** Message passing ran (converged, or with `lastIteration` its final flags). */
  | "messages"
  /** n = 1, or all similarities and all preferences equal (§3.7): no message passing needed. */
  | "degenerate"
  /** Not converged, `keepAll`: every point is its own exemplar. */
  | "keepAll"
  /** No flag set at the end (§3.7): the point with the largest preference alone (lowest index on ties). */
  | "noExemplar";

/** The clustering of n points. */
export interface AffinityResult {
  /** Exemplar indices, ascending, at least one. */
  exemplars: number[];
  /** Per point, the position in `exemplars` of its exemplar (0-based cluster label). */
  labels: number[];
  /** Iterations of message passing run (0 for the degenerate cases). */
  iterations: number;
  /** Whether the message passing converged (true for the degenerate cases, which need none). */
  converged: boolean;
  /** How the exemplars were decided. */
  outcome: AffinityOutcome;
}

/** The message passing's outcome (§3.3 step 4). */
export interface AffinityIterateResult {
  /** Flags of the last iteration run: 1 if the point is an exemplar. */
  flags: ArrayLike<number>;
  /** Iterations run. */
  iterations: number;
  /** True if the flags stayed the same over the convergence window with at least one set. */
  converged: boolean;
}

/** §3.7: n ≥ 2, every off-diagonal similarity equal to S[0][1], every preference equal to p_0. */
export function allEqualSimilarities(
  similarities: ArrayLike<number>,
  preferences: ArrayLike<number>,
  n: number,
): boolean {
  if (n < 2) return false;
  const s0 = similarities[1]!;
  const p0 = preferences[0]!;
  for (let i = 0; i < n; i++) {
    if (preferences[i] !== p0) return false;
    for (let k = 0; k < n; k++) if (i !== k && similarities[i * n + k] !== s0) return false;
  }
  return true;
}

/**
 * The result without message passing (§3.7): n = 1 keeps its point; equal similarities and
 * preferences keep every point when p ≥ s, else point 0 alone (as scikit-learn does).
 */
export function degenerateResult(
  similarities: ArrayLike<number>,
  preferences: ArrayLike<number>,
  n: number,
): AffinityResult {
  const base = { iterations: 0, converged: true, outcome: "degenerate" as const };
  if (n === 1 || preferences[0]! >= similarities[1]!) {
    const all = Array.from({ length: n }, (_, i) => i);
    return { exemplars: all, labels: [...all], ...base };
  }
  return { exemplars: [0], labels: new Array<number>(n).fill(0), ...base };
}

/**
 * §3.3 steps 5-9 and the §3.7 modes after the message passing (shared with the reference).
 * @param diagonal S's diagonal as the message passing used it (preferences, noise included).
 */
export function finishAffinity(
  diagonal: ArrayLike<number>,
  n: number,
  run: AffinityIterateResult,
  o: AffinityOptions,
  exemplarsOf: () => { exemplars: number[]; labels: number[] },
): AffinityResult {
  const base = { iterations: run.iterations, converged: run.converged };
  if (!run.converged) {
    if (o.onNoConvergence === "error") {
      throw new PrunekitError(
        "NOT_CONVERGED",
        `affinity propagation on ${n} points did not converge within ${o.maxIterations} iterations; use onNoConvergence "lastIteration" (the final iteration's exemplars) or "keepAll", or raise maxIterations`,
      );
    }
    if (o.onNoConvergence === "keepAll") {
      const all = Array.from({ length: n }, (_, i) => i);
      return { exemplars: all, labels: [...all], ...base, outcome: "keepAll" };
    }
  }
  const { exemplars, labels } = exemplarsOf();
  if (exemplars.length > 0) return { exemplars, labels, ...base, outcome: "messages" };
  // §3.7: never zero exemplars; the largest preference keeps the layer alive.
  let best = 0;
  for (let i = 1; i < n; i++) if (diagonal[i]! > diagonal[best]!) best = i;
  return { exemplars: [best], labels: new Array<number>(n).fill(0), ...base, outcome: "noExemplar" };
}

/** Check options; @throws PrunekitError `INVALID_ARGUMENT` naming the option. */
export function checkAffinityOptions(o: AffinityOptions): void {
  if (!(o.damping >= 0.5 && o.damping < 1)) {
    throw new PrunekitError("INVALID_ARGUMENT", `affinity: damping must be in [0.5, 1), got ${o.damping}`);
  }
  for (const key of ["maxIterations", "convergenceIterations"] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1 || o[key] > 1e6) {
      throw new PrunekitError("INVALID_ARGUMENT", `affinity: ${key} must be an integer >= 1, got ${o[key]}`);
    }
  }
  if (!["lastIteration", "keepAll", "error"].includes(o.onNoConvergence)) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `affinity: onNoConvergence must be "lastIteration", "keepAll" or "error", got ${String(o.onNoConvergence)}`,
    );
  }
  if (o.noiseSeed !== undefined && !Number.isInteger(o.noiseSeed)) {
    throw new PrunekitError("INVALID_ARGUMENT", `affinity: noiseSeed must be an integer, got ${o.noiseSeed}`);
  }
}

/** Arena buffers of one affinity propagation run on n points. */
export interface AffinityBufs {
  /** n x n f64: similarities with the preferences on the diagonal (read only). */
  s: Buf;
  /** n x n f64 scratch: responsibilities. */
  r: Buf;
  /** n x n f64 scratch: availabilities. */
  a: Buf;
  /** n i32 out: the last iteration's exemplar flags. */
  flags: Buf;
  /** f64 scratch of {@link affinityIterateScratchLen}(n, convIter) elements. */
  scratch: Buf;
  /** 2 i32 out: iterations run, converged (1/0). */
  out: Buf;
}

/** f64 elements of scratch `affinity_iterate` needs. */
export function affinityIterateScratchLen(w: Wasm, n: number, convIter: number): number {
  return (kernel(w, "affinity_iterate_scratch_bytes")(n, convIter) as number) / 8;
}

/**
 * The message passing (§3.3 steps 3-4) on arena buffers: one kernel call for the whole loop.
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function affinityIterate(
  w: Wasm,
  b: AffinityBufs,
  n: number,
  maxIter: number,
  convIter: number,
  damping: number,
): AffinityIterateResult {
  checkSize("affinityIterate n", n);
  if (n < 1 || maxIter < 1 || convIter < 1) {
    throw new PrunekitError(
      "INVALID_ARGUMENT",
      `affinityIterate: n, maxIter and convIter must be >= 1, got ${n}, ${maxIter}, ${convIter}`,
    );
  }
  for (const [name, buf, len] of [
    ["s", b.s, n * n],
    ["r", b.r, n * n],
    ["a", b.a, n * n],
    ["flags", b.flags, n],
    ["scratch", b.scratch, affinityIterateScratchLen(w, n, convIter)],
    ["out", b.out, 2],
  ] as const) {
    checkLength(`affinityIterate ${name}`, buf, len);
  }
  w.arena.checkLive("affinityIterate", b.s, b.r, b.a, b.flags, b.scratch, b.out);
  kernel(w, "affinity_iterate")(
    b.s.ptr,
    b.r.ptr,
    b.a.ptr,
    b.flags.ptr,
    b.scratch.ptr,
    n,
    maxIter,
    convIter,
    damping,
    b.out.ptr,
  );
  const out = w.arena.viewI32(b.out);
  return { flags: w.arena.viewI32(b.flags).slice(), iterations: out[0]!, converged: out[1] === 1 };
}

/**
 * §3.3 steps 5-9 on arena buffers: exemplars ascending and each point's label from the final flags
 * (empty when no flag is set).
 * @throws PrunekitError `INVALID_ARGUMENT` on size mismatch; `ARENA_MISUSE` on a dead or foreign buffer.
 */
export function affinityExemplars(
  w: Wasm,
  s: Buf,
  flags: Buf,
  n: number,
): { exemplars: number[]; labels: number[] } {
  checkSize("affinityExemplars n", n);
  checkLength("affinityExemplars s", s, n * n);
  checkLength("affinityExemplars flags", flags, n);
  w.arena.checkLive("affinityExemplars", s, flags);
  const mark = w.arena.mark();
  try {
    const ex = w.arena.allocI32(n);
    const labels = w.arena.allocI32(n);
    const scratch = w.arena.allocI32(4 * n + 1);
    const k = kernel(w, "affinity_exemplars")(s.ptr, flags.ptr, n, ex.ptr, labels.ptr, scratch.ptr) as number;
    if (k === 0) return { exemplars: [], labels: [] };
    return {
      exemplars: Array.from(w.arena.viewI32(ex).subarray(0, k)),
      labels: Array.from(w.arena.viewI32(labels)),
    };
  } finally {
    w.arena.release(mark);
  }
}

/**
 * Affinity propagation (docs/methods.md §3.3, §3.7) in WebAssembly, float64 throughout.
 *
 * @param similarities n x n f64, row-major (its diagonal is ignored: the preferences go there).
 * @param preferences n values, p_i on S[i][i].
 * @param n the number of points, >= 1.
 * @param options overrides of {@link AFFINITY_DEFAULTS}.
 * @returns exemplars (ascending), labels, iterations, whether it converged and how it was decided.
 * @throws PrunekitError `INVALID_ARGUMENT` (sizes, non-finite values, options); `NOT_CONVERGED` with
 *   `onNoConvergence: "error"`.
 * @example
 * // 1-D points 0, 1, 10, 11: two clusters.
 * const x = [0, 1, 10, 11];
 * const s = Float64Array.from({ length: 16 }, (_, q) => -((x[q >> 2]! - x[q & 3]!) ** 2));
 * affinityPropagation(await getWasm(), s, [-50, -50, -50, -50], 4).exemplars; // [0, 2]
 */
export function affinityPropagation(
  w: Wasm,
  similarities: Float64Array,
  preferences: ArrayLike<number>,
  n: number,
  options: Partial<AffinityOptions> = {},
): AffinityResult {
  const o: AffinityOptions = { ...AFFINITY_DEFAULTS, ...options };
  checkAffinityOptions(o);
  checkSize("affinityPropagation n", n);
  if (n < 1) throw new PrunekitError("INVALID_ARGUMENT", "affinityPropagation: need at least one point");
  checkLength("affinityPropagation similarities", similarities, n * n);
  checkLength("affinityPropagation preferences", preferences, n);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(preferences[i])) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `affinityPropagation: preference ${i} is ${preferences[i]}, expected a finite number`,
      );
    }
  }
  for (let q = 0; q < n * n; q++) {
    if (!Number.isFinite(similarities[q]!) && q % (n + 1) !== 0) {
      throw new PrunekitError(
        "INVALID_ARGUMENT",
        `affinityPropagation: similarity [${Math.floor(q / n)}][${q % n}] is ${similarities[q]}, expected a finite number`,
      );
    }
  }
  if (n === 1 || allEqualSimilarities(similarities, preferences, n)) {
    return degenerateResult(similarities, preferences, n);
  }
  return withArena(w, (arena) => {
    const s = arena.copyInF64(similarities);
    const view = arena.viewF64(s);
    for (let i = 0; i < n; i++) view[i * n + i] = preferences[i]!;
    if (o.noiseSeed !== undefined) addTieBreakNoise(view, o.noiseSeed);
    const b: AffinityBufs = {
      s,
      r: arena.allocF64(n * n),
      a: arena.allocF64(n * n),
      flags: arena.allocI32(n),
      scratch: arena.allocF64(affinityIterateScratchLen(w, n, o.convergenceIterations)),
      out: arena.allocI32(2),
    };
    const run = affinityIterate(w, b, n, o.maxIterations, o.convergenceIterations, o.damping);
    const sv = arena.viewF64(s);
    const diagonal = Float64Array.from({ length: n }, (_, i) => sv[i * n + i]!);
    return finishAffinity(diagonal, n, run, o, () => affinityExemplars(w, s, b.flags, n));
  });
}

/** S[q] += (eps·S[q] + tiny)·g_q with seeded normals (§3.3 step 2). */
function addTieBreakNoise(s: Float64Array, seed: number): void {
  const g = seededNormals(seed, s.length);
  for (let q = 0; q < s.length; q++) s[q] = s[q]! + (TIE_EPS * s[q]! + TIE_TINY) * g[q]!;
}
