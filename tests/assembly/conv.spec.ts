import { conv_depthwise, conv_im2col } from "../../assembly/conv";

function at(ptr: usize, i: i32): f32 {
  return load<f32>(ptr + ((<usize>i) << 2));
}

/** x[r, c] = c on a rows x cols plane: every 3x3 block of columns ox..ox+2 sums to 3*(3ox + 3). */
function fillColumnIndex(ptr: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) store<f32>(ptr + ((<usize>(r * cols + c)) << 2), <f32>c);
  }
}

describe("conv", () => {
  it("im2col zero-pads a 2x2 image for a 2x2 kernel with pad 1 on top and left", () => {
    const x = memory.data(16);
    for (let i = 0; i < 4; i++) store<f32>(x + ((<usize>i) << 2), <f32>(i + 1));
    const col = memory.data(64);
    conv_im2col(x, 1, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2, col);
    // Row (i, j) holds, for the 4 outputs, pixel (oy - 1 + i, ox - 1 + j) or 0.
    const want: f32[] = [0, 0, 0, 1, 0, 0, 1, 2, 0, 1, 0, 3, 1, 2, 3, 4];
    for (let k = 0; k < 16; k++) expect(at(col, k)).toBe(want[k]);
  });

  it("depthwise 3x3 of ones, stride 1, on a 3 x 12 row of column indices: 9ox + 9 (one 8-wide group, then scalar)", () => {
    const x = memory.data(3 * 12 * 4);
    fillColumnIndex(x, 3, 12);
    const w = memory.data(36);
    for (let i = 0; i < 9; i++) store<f32>(w + ((<usize>i) << 2), 1);
    const y = memory.data(10 * 4);
    conv_depthwise(x, w, y, 1, 3, 12, 3, 3, 1, 1, 0, 0, 1, 1, 1, 10);
    for (let ox = 0; ox < 10; ox++) {
      const want: i32 = 9 * ox + 9;
      expect(at(y, ox)).toBe(<f32>want);
    }
  });

  it("depthwise 3x3 of ones, stride 2: 3*(2ox + 2ox+1 + 2ox+2) = 18ox + 9", () => {
    const x = memory.data(3 * 12 * 4);
    fillColumnIndex(x, 3, 12);
    const w = memory.data(36);
    for (let i = 0; i < 9; i++) store<f32>(w + ((<usize>i) << 2), 1);
    const y = memory.data(5 * 4);
    conv_depthwise(x, w, y, 1, 3, 12, 3, 3, 1, 2, 0, 0, 1, 1, 1, 5);
    for (let ox = 0; ox < 5; ox++) {
      const want: i32 = 18 * ox + 9;
      expect(at(y, ox)).toBe(<f32>want);
    }
  });

  it("depthwise skips the taps outside the image (pad 1): corners see 4 of 9 ones", () => {
    const x = memory.data(36);
    for (let i = 0; i < 9; i++) store<f32>(x + ((<usize>i) << 2), 1);
    const w = memory.data(36);
    for (let i = 0; i < 9; i++) store<f32>(w + ((<usize>i) << 2), 1);
    const y = memory.data(36);
    conv_depthwise(x, w, y, 1, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3, 3);
    const want: f32[] = [4, 6, 4, 6, 9, 6, 4, 6, 4];
    for (let k = 0; k < 9; k++) expect(at(y, k)).toBe(want[k]);
  });
});
