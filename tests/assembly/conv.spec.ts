import {
  conv_col2im,
  conv_depthwise,
  conv_depthwise_grad_input,
  conv_depthwise_grad_weight,
  conv_im2col,
  conv_winograd_input,
  conv_winograd_input_packed,
  conv_winograd_output,
  conv_winograd4_input_packed,
  conv_winograd4_output,
  winograd_packed_pad_len,
  winograd_pad_len,
  winograd4_pad_len,
} from "../../assembly/conv";

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

describe("conv backward", () => {
  it("col2im of all ones counts, per pixel, the col entries im2col copied from it", () => {
    const col = memory.data(16 * 4);
    for (let i = 0; i < 16; i++) store<f32>(col + ((<usize>i) << 2), 1);
    const x = memory.data(16);
    for (let i = 0; i < 4; i++) store<f32>(x + ((<usize>i) << 2), 0);
    conv_col2im(col, 1, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2, x);
    const want: f32[] = [4, 2, 2, 1];
    for (let k = 0; k < 4; k++) expect(at(x, k)).toBe(want[k]);
    conv_col2im(col, 1, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2, x); // accumulates
    for (let k = 0; k < 4; k++) expect(at(x, k)).toBe(want[k] * 2);
  });

  it("depthwise input gradient of a 3x3 kernel of ones, pad 1, dy of ones, on a 3 x 10 row (SIMD + tail)", () => {
    const dy = memory.data(30 * 4);
    for (let i = 0; i < 30; i++) store<f32>(dy + ((<usize>i) << 2), 1);
    const w = memory.data(36);
    for (let i = 0; i < 9; i++) store<f32>(w + ((<usize>i) << 2), 1);
    const dx = memory.data(30 * 4);
    conv_depthwise_grad_input(dy, w, dx, 1, 3, 10, 3, 3, 1, 1, 1, 1, 1, 1, 3, 10);
    // Pixel (r, c) is read by (rows in range) x (cols in range) outputs.
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 10; c++) {
        const rows: i32 = r === 1 ? 3 : 2;
        const cols: i32 = c === 0 || c === 9 ? 2 : 3;
        expect(at(dx, r * 10 + c)).toBe(<f32>(rows * cols));
      }
    }
  });

  it("depthwise weight gradient accumulates x . dy per tap, stride 2", () => {
    const x = memory.data(12 * 4);
    fillColumnIndex(x, 1, 12); // x[c] = c
    const dy = memory.data(6 * 4);
    for (let i = 0; i < 6; i++) store<f32>(dy + ((<usize>i) << 2), 1);
    const dw = memory.data(2 * 4);
    store<f32>(dw, 100);
    store<f32>(dw + 4, 0);
    conv_depthwise_grad_weight(x, dy, dw, 1, 1, 12, 1, 2, 1, 2, 0, 0, 1, 1, 1, 6);
    // Tap j reads columns 2*ox + j: 0+2+...+10 = 30, 1+3+...+11 = 36.
    expect(at(dw, 0)).toBe(130);
    expect(at(dw, 1)).toBe(36);
  });

  it("winograd input transform of a 10x12 plane of ones: V[5] = 4, every other position 0 (SIMD group and scalar tiles)", () => {
    const x = memory.data(120 * 4);
    for (let i = 0; i < 120; i++) store<f32>(x + ((<usize>i) << 2), 1);
    // pad 1 on the left, out 8 x 11, 4 x 6 tiles: tile 0 reads a zero column (scalar), tiles 1..4 (columns
    // 1..10) are one f32x4 group, tile 5 reads past the right edge (scalar).
    const tiles = 4 * 6;
    const v = memory.data(16 * tiles * 4);
    conv_winograd_input(x, 1, 1, 10, 12, 0, 1, 4, 6, v, tiles, tiles);
    for (let ty = 0; ty < 4; ty++) {
      for (let tx = 1; tx < 5; tx++) {
        const t = ty * 6 + tx;
        for (let e = 0; e < 16; e++) expect(at(v, e * tiles + t)).toBe(e === 5 ? 4 : 0);
      }
    }
    // Tile 0: column 0 of every patch row is padding: t row 1 = (0, 2, 2, 2), V[1][1] = 2 + 2.
    expect(at(v, 5 * tiles)).toBe(4);
    expect(at(v, 4 * tiles)).toBe(-2);
  });

  it("packed winograd input transform: conv_winograd_input's values in 8-tile panels, padded columns 0", () => {
    // 2 channels of 9 x 13 (pad 1 left and top), out 9 x 13: 5 x 7 = 35 tiles, so tile groups straddle
    // panels (rows start at 7, 14, ...) and the last panel has 5 padded columns.
    const x = memory.data(2 * 9 * 13 * 4);
    for (let i = 0; i < 2 * 9 * 13; i++) store<f32>(x + ((<usize>i) << 2), <f32>((i * 7) % 19) - 9);
    const tiles = 35;
    const plain = memory.data(16 * 2 * tiles * 4);
    const pad = memory.data(256 * 4, 16);
    expect(winograd_packed_pad_len(5, 7)).toBe(winograd_pad_len(5, 7) + 64);
    expect(winograd_packed_pad_len(5, 7)).toBe(256);
    conv_winograd_input(x, 1, 2, 9, 13, 1, 1, 5, 7, plain, tiles, 2 * tiles, pad);
    const eLen = 2 * 40 + 3;
    const v = memory.data(16 * eLen * 4);
    for (let i = 0; i < 16 * eLen; i++) store<f32>(v + ((<usize>i) << 2), 99);
    conv_winograd_input_packed(x, 1, 2, 9, 13, 1, 1, 5, 7, v, tiles, eLen, pad);
    for (let e = 0; e < 16; e++) {
      for (let c = 0; c < 2; c++) {
        for (let t = 0; t < 40; t++) {
          const got = at(v, e * eLen + ((t / 8) * 2 + c) * 8 + (t % 8));
          expect(got).toBe(t < tiles ? at(plain, e * 2 * tiles + c * tiles + t) : 0);
        }
      }
    }
  });

  it("F(4x4) input transform of a 7x7 plane of ones (pad 1): the corner tile's V = b b^T, padded columns 0", () => {
    const x = memory.data(49 * 4);
    for (let i = 0; i < 49; i++) store<f32>(x + ((<usize>i) << 2), 1);
    // Pads 1 on every side: out 7 x 7, 2 x 2 tiles. Tile 0's patch is rows and columns -1..4: d = 0 on
    // row 0 and column 0, else 1. b = B^T (0, 1, 1, 1, 1, 1) = (-4, -6, 0, 0, 0, 0).
    const tiles = 4;
    const eLen = 8 + 2;
    // The padded plane, then both tile rows' rows-first values (6 rows of 12 floats each).
    expect(winograd4_pad_len(2, 2)).toBe(10 * 10 + 2 * 72);
    const pad = memory.data(244 * 4, 16);
    const v = memory.data(36 * eLen * 4);
    for (let i = 0; i < 36 * eLen; i++) store<f32>(v + ((<usize>i) << 2), 99);
    conv_winograd4_input_packed(x, 1, 1, 7, 7, 1, 1, 2, 2, v, tiles, eLen, pad);
    const b: f32[] = [-4, -6, 0, 0, 0, 0];
    for (let i = 0; i < 6; i++) {
      for (let j = 0; j < 6; j++) {
        expect(at(v, (6 * i + j) * eLen)).toBe(b[i] * b[j]);
        for (let t = tiles; t < 8; t++) expect(at(v, (6 * i + j) * eLen + t)).toBe(0);
      }
    }
  });

  it("F(4x4) output transform of all-ones products: s s^T with s = (5, 0, 10, 1), plus bias, ragged 6x5", () => {
    const tiles = 2 * 2;
    const m = memory.data(36 * tiles * 4);
    for (let i = 0; i < 36 * tiles; i++) store<f32>(m + ((<usize>i) << 2), 1);
    const bias = memory.data(4);
    store<f32>(bias, -1);
    const y = memory.data(6 * 5 * 4);
    conv_winograd4_output(m, tiles, tiles, 1, 1, 2, 2, 6, 5, bias, 0, 0, 0, y);
    const s: f32[] = [5, 0, 10, 1];
    for (let oy = 0; oy < 6; oy++) {
      for (let ox = 0; ox < 5; ox++) expect(at(y, oy * 5 + ox)).toBe(s[oy % 4] * s[ox % 4] - 1);
    }
  });

  it("winograd output transform of all-ones products: tiles [[9, -3], [-3, 1]] plus bias, then relu", () => {
    const tiles = 5 * 5;
    const m = memory.data(16 * tiles * 4);
    for (let i = 0; i < 16 * tiles; i++) store<f32>(m + ((<usize>i) << 2), 1);
    const bias = memory.data(4);
    store<f32>(bias, 1);
    const y = memory.data(9 * 9 * 4);
    conv_winograd_output(m, tiles, tiles, 1, 1, 5, 5, 9, 9, bias, 1, 0, 0, y);
    for (let oy = 0; oy < 9; oy++) {
      for (let ox = 0; ox < 9; ox++) {
        const want: f32 = oy % 2 === 0 ? (ox % 2 === 0 ? 10 : 0) : ox % 2 === 0 ? 0 : 2;
        expect(at(y, oy * 9 + ox)).toBe(want);
      }
    }
  });
});
