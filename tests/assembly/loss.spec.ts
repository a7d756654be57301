import { loss_softmax_xent, loss_softmax_xent_correct } from "../../assembly/loss";

function at(ptr: usize, i: i32): f32 {
  return load<f32>(ptr + ((<usize>i) << 2));
}

function put(ptr: usize, values: f32[]): void {
  for (let i = 0; i < values.length; i++) store<f32>(ptr + ((<usize>i) << 2), values[i]);
}

describe("loss", () => {
  it("softmax cross-entropy of equal logits is log(cols); the gradient is (1/cols - onehot) / rows", () => {
    const logits = memory.data(40);
    put(logits, [3, 3, 3, 3, 3, -1, -1, -1, -1, -1]);
    const labels = memory.data(8);
    store<i32>(labels, 4);
    store<i32>(labels + 4, 0);
    const d = memory.data(40);
    const loss = loss_softmax_xent(logits, labels, d, 2, 5);
    expect(Math.abs(loss - Math.log(5))).toBeLessThan(1e-15);
    expect(at(d, 0)).toBe(<f32>(0.2 / 2));
    expect(at(d, 4)).toBe(<f32>((0.2 - 1) / 2));
    expect(at(d, 5)).toBe(<f32>((0.2 - 1) / 2));
    expect(loss_softmax_xent(logits, labels, 0, 2, 5)).toBe(loss);
  });

  it("counts rows whose first maximum is the label", () => {
    const logits = memory.data(24);
    put(logits, [1, 2, 2, 5, 0, 5]);
    const labels = memory.data(8);
    store<i32>(labels, 1); // row [1, 2, 2]: first maximum at 1
    store<i32>(labels + 4, 2); // row [5, 0, 5]: first maximum at 0
    expect(loss_softmax_xent_correct(logits, labels, 2, 3)).toBe(1);
  });
});
