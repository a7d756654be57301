// Seeded pseudo-random numbers for the places where prunekit needs reproducible randomness (the
// optional tie-breaking noise of affinity propagation, docs/methods.md §3.3 step 2; fresh weights for
// EPruner's random initialisation, §3.4). The uniforms use 32-bit integer arithmetic only, so a seed
// gives the same uniforms in every runtime; the normals add Math.log / Math.cos / Math.sin, which
// V8 (Node, Deno, Chromium) computes identically everywhere but other engines may round differently
// in the last bit.

/**
 * A uniform generator on [0, 1) (mulberry32: a 32-bit state advanced by the golden-ratio increment,
 * then mixed), seeded by any number (its low 32 bits).
 * @example
 * const next = seededUniform(7); next(); // the same value for seed 7 everywhere
 */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `count` standard normal values (Box-Muller on pairs of {@link seededUniform} draws).
 * @example
 * seededNormals(0, 4); // four N(0, 1) values, the same for seed 0 everywhere
 */
export function seededNormals(seed: number, count: number): Float64Array {
  const next = seededUniform(seed);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 2) {
    const u1 = 1 - next(); // (0, 1]: log is finite
    const u2 = next();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}
