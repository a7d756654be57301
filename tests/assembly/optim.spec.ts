import { optim_add_l1_grad, optim_scale, optim_sgd } from "../../assembly/optim";

function at(ptr: usize, i: i32): f32 {
  return load<f32>(ptr + ((<usize>i) << 2));
}

function put(ptr: usize, values: f32[]): void {
  for (let i = 0; i < values.length; i++) store<f32>(ptr + ((<usize>i) << 2), values[i]);
}

describe("optim", () => {
  it("the first momentum step sets v = g + wd*w on the SIMD body and the tail alike", () => {
    const w = memory.data(20);
    put(w, [1, 2, 3, 4, 5]);
    const g = memory.data(20);
    put(g, [0.5, 0.5, 0.5, 0.5, 0.5]);
    const v = memory.data(20);
    put(v, [0, 0, 0, 0, 0]);
    optim_sgd(w, g, v, 5, 0.5, 0.9, 0.25, 0);
    for (let i = 0; i < 5; i++) {
      const d: f32 = <f32>0.5 + <f32>0.25 * <f32>(i + 1);
      expect(at(v, i)).toBe(d);
      expect(at(w, i)).toBe(<f32>(i + 1) - <f32>0.5 * d);
    }
  });

  it("plain SGD (momentum 0) needs no velocity buffer", () => {
    const w = memory.data(12);
    put(w, [1, -1, 2]);
    const g = memory.data(12);
    put(g, [1, 1, -4]);
    optim_sgd(w, g, 0, 3, 0.25, 0, 0, 0);
    expect(at(w, 0)).toBe(0.75);
    expect(at(w, 1)).toBe(-1.25);
    expect(at(w, 2)).toBe(3);
  });

  it("scales in place and adds lambda * sign(w), with sign(0) = 0", () => {
    const x = memory.data(20);
    put(x, [1, -2, 3, -4, 5]);
    optim_scale(x, 5, 0.5);
    expect(at(x, 3)).toBe(-2);
    expect(at(x, 4)).toBe(2.5);
    const w = memory.data(20);
    put(w, [2, 0, -3, -0.0, 7]);
    const g = memory.data(20);
    put(g, [1, 1, 1, 1, 1]);
    optim_add_l1_grad(w, g, 5, 0.5);
    expect(at(g, 0)).toBe(1.5);
    expect(at(g, 1)).toBe(1);
    expect(at(g, 2)).toBe(0.5);
    expect(at(g, 3)).toBe(1);
    expect(at(g, 4)).toBe(1.5);
  });
});
