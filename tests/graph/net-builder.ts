// A small CNN builder for graph tests: tracks channel counts and spatial sizes so tests can write
// topologies (chains, residual blocks, concat branches, flatten heads, depthwise blocks) in a few lines.
import { type BuildNode, buildModel } from "../../src/onnx/build.ts";
import type { ModelProto, TensorProto } from "../../src/onnx/proto-types.ts";
import { makeFloat32Tensor, makeInt64Tensor } from "../../src/onnx/tensor.ts";

export class NetBuilder {
  readonly nodes: BuildNode[] = [];
  readonly initializers: TensorProto[] = [];
  /** [C, H, W] (or [F] after a flatten) per value. */
  readonly dims: Map<string, number[]> = new Map();
  private n = 0;

  constructor(
    readonly input = "x",
    inputDims: number[] = [3, 8, 8],
    readonly opset = 13,
  ) {
    this.dims.set(input, inputDims);
  }

  fresh(prefix: string): string {
    return `${prefix}${this.n++}`;
  }

  channels(x: string): number {
    return this.dims.get(x)![0]!;
  }

  weight(prefix: string, dims: number[]): string {
    const name = this.fresh(prefix);
    const len = dims.reduce((a, b) => a * b, 1);
    this.initializers.push(
      makeFloat32Tensor(
        name,
        dims,
        Array.from({ length: len }, (_, i) => ((i % 7) - 3) / 7),
      ),
    );
    return name;
  }

  ints(values: number[]): string {
    const name = this.fresh("shape");
    this.initializers.push(makeInt64Tensor(name, [values.length], values));
    return name;
  }

  op(
    opType: string,
    inputs: string[],
    outDims: number[],
    attributes?: BuildNode["attributes"],
    domain?: string,
  ): string {
    const out = this.fresh(opType.toLowerCase());
    const node: BuildNode = { opType, inputs, outputs: [out], name: `${opType}_${out}` };
    if (attributes) node.attributes = attributes;
    if (domain !== undefined) node.domain = domain;
    this.nodes.push(node);
    this.dims.set(out, outDims);
    return out;
  }

  conv(
    x: string,
    cout: number,
    o: { k?: number; group?: number; bias?: boolean; stride?: number } = {},
  ): string {
    const [cin, h, w] = this.dims.get(x)! as [number, number, number];
    const k = o.k ?? 3;
    const group = o.group ?? 1;
    const stride = o.stride ?? 1;
    const p = Math.floor(k / 2);
    const inputs = [x, this.weight("w", [cout, cin / group, k, k])];
    if (o.bias) inputs.push(this.weight("b", [cout]));
    const hout = Math.floor((h + 2 * p - k) / stride) + 1;
    const wout = Math.floor((w + 2 * p - k) / stride) + 1;
    return this.op("Conv", inputs, [cout, hout, wout], {
      kernel_shape: [k, k],
      pads: [p, p, p, p],
      strides: [stride, stride],
      group,
    });
  }

  bn(x: string): string {
    const c = this.channels(x);
    const params = ["g", "beta", "mean", "var"].map((p) => this.weight(p, [c]));
    return this.op("BatchNormalization", [x, ...params], this.dims.get(x)!, { epsilon: { f: 1e-5 } });
  }

  unary(opType: string, x: string, attributes?: BuildNode["attributes"]): string {
    return this.op(opType, [x], this.dims.get(x)!, attributes);
  }

  relu(x: string): string {
    return this.unary("Relu", x);
  }

  add(a: string, b: string): string {
    return this.op("Add", [a, b], this.dims.get(a)!);
  }

  concat(xs: string[]): string {
    const [, h, w] = this.dims.get(xs[0]!)! as [number, number, number];
    const c = xs.reduce((s, x) => s + this.channels(x), 0);
    return this.op("Concat", xs, [c, h, w], { axis: 1 });
  }

  maxpool(x: string): string {
    const [c, h, w] = this.dims.get(x)! as [number, number, number];
    return this.op("MaxPool", [x], [c, Math.floor(h / 2), Math.floor(w / 2)], {
      kernel_shape: [2, 2],
      strides: [2, 2],
    });
  }

  gap(x: string): string {
    return this.op("GlobalAveragePool", [x], [this.channels(x), 1, 1]);
  }

  flatten(x: string): string {
    const d = this.dims.get(x)!;
    return this.op("Flatten", [x], [d.reduce((a, b) => a * b, 1)], { axis: 1 });
  }

  /** Reshape to [N, C*H*W] with a literal shape: [1, F] when `explicit`, else [0, -1]. */
  reshapeFlat(x: string, explicit: boolean): string {
    const d = this.dims.get(x)!;
    const f = d.reduce((a, b) => a * b, 1);
    return this.op("Reshape", [x, this.ints(explicit ? [1, f] : [0, -1])], [f]);
  }

  gemm(x: string, out: number): string {
    const f = this.dims.get(x)![0]!;
    return this.op("Gemm", [x, this.weight("fc", [out, f]), this.weight("fcb", [out])], [out], { transB: 1 });
  }

  model(outputs: string[], symbolicBatch = true): ModelProto {
    const batch = symbolicBatch ? "batch" : 1;
    return buildModel({
      inputs: [{ name: this.input, shape: [batch, ...this.dims.get(this.input)!] }],
      outputs: outputs.map((o) => ({ name: o, shape: [batch, ...this.dims.get(o)!] })),
      nodes: this.nodes,
      initializers: this.initializers,
      opset: this.opset,
    });
  }
}
