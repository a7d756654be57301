// Training checkpoints as bytes: everything a run needs to continue bit for bit at an epoch boundary
// (parameter values, BN running statistics, SGD momentum buffers, the epoch reached, the loss history)
// plus a fingerprint of the run's settings, so that resuming with another model or other settings is
// refused instead of silently mixing runs. Layout: "PKCKPT1\n", a u32 (little-endian) header length, the
// UTF-8 JSON header, then per tensor its f32 values (little-endian) in header order.
import { PrunekitError } from "../errors.ts";

/** One tensor of a checkpoint. */
export interface CheckpointTensor {
  readonly name: string;
  readonly values: Float32Array;
  /** The SGD momentum buffer (trainable parameters). */
  readonly momentum?: Float32Array;
}

/** A training run's state at an epoch boundary. */
export interface Checkpoint {
  /** Epochs completed. */
  readonly epoch: number;
  /** Settings that must match to resume (model, data, schedule, batch, seed...). */
  readonly fingerprint: Readonly<Record<string, unknown>>;
  /** Per completed epoch: mean training loss and accuracy, and test accuracy when evaluated. */
  readonly history: readonly EpochRecord[];
  readonly tensors: readonly CheckpointTensor[];
  /** A method's own JSON state (Gate Decorator's Tick-Tock position); absent for plain training. */
  readonly state?: unknown;
}

/** What one epoch of training gave. */
export interface EpochRecord {
  epoch: number;
  loss: number;
  accuracy: number;
  seconds: number;
  testAccuracy?: number;
}

const MAGIC = "PKCKPT1\n";

/** Encode a checkpoint to bytes. */
export function encodeCheckpoint(c: Checkpoint): Uint8Array {
  const header = JSON.stringify({
    epoch: c.epoch,
    fingerprint: c.fingerprint,
    history: c.history,
    tensors: c.tensors.map((t) => ({
      name: t.name,
      length: t.values.length,
      momentum: t.momentum !== undefined,
    })),
    ...(c.state === undefined ? {} : { state: c.state }),
  });
  const head = new TextEncoder().encode(header);
  let floats = 0;
  for (const t of c.tensors) floats += t.values.length + (t.momentum?.length ?? 0);
  const out = new Uint8Array(MAGIC.length + 4 + head.length + floats * 4);
  out.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(out.buffer);
  view.setUint32(MAGIC.length, head.length, true);
  out.set(head, MAGIC.length + 4);
  let at = MAGIC.length + 4 + head.length;
  for (const t of c.tensors) {
    for (const arr of t.momentum === undefined ? [t.values] : [t.values, t.momentum]) {
      for (let i = 0; i < arr.length; i++) view.setFloat32(at + i * 4, arr[i]!, true);
      at += arr.length * 4;
    }
  }
  return out;
}

/**
 * Decode checkpoint bytes.
 * @param where the file, for messages.
 * @throws PrunekitError `CHECKPOINT_INVALID` for anything that is not a complete checkpoint.
 */
export function decodeCheckpoint(bytes: Uint8Array, where: string): Checkpoint {
  const bad = (why: string) => new PrunekitError("CHECKPOINT_INVALID", `${where}: ${why}`);
  const magic = new TextDecoder().decode(bytes.subarray(0, MAGIC.length));
  if (magic !== MAGIC) throw bad("not a prunekit checkpoint");
  if (bytes.length < MAGIC.length + 4) throw bad("truncated header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headLen = view.getUint32(MAGIC.length, true);
  const start = MAGIC.length + 4;
  if (start + headLen > bytes.length) throw bad("truncated header");
  let header: {
    epoch?: unknown;
    fingerprint?: unknown;
    history?: unknown;
    tensors?: unknown;
    state?: unknown;
  };
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, start + headLen)),
    );
  } catch {
    throw bad("the header is not valid JSON");
  }
  const { epoch, fingerprint, history, tensors, state } = header;
  if (!Number.isInteger(epoch) || (epoch as number) < 0) throw bad("bad epoch");
  if (typeof fingerprint !== "object" || fingerprint === null) throw bad("bad fingerprint");
  if (!Array.isArray(history) || !Array.isArray(tensors)) throw bad("bad history or tensor list");
  let at = start + headLen;
  const out: CheckpointTensor[] = [];
  for (const t of tensors as { name?: unknown; length?: unknown; momentum?: unknown }[]) {
    if (typeof t?.name !== "string" || !Number.isInteger(t.length) || (t.length as number) < 0) {
      throw bad("bad tensor entry");
    }
    const len = t.length as number;
    const read = (): Float32Array => {
      if (at + len * 4 > bytes.length) throw bad(`truncated data of ${JSON.stringify(t.name)}`);
      const a = new Float32Array(len);
      for (let i = 0; i < len; i++) a[i] = view.getFloat32(at + i * 4, true);
      at += len * 4;
      return a;
    };
    const values = read();
    out.push(t.momentum === true ? { name: t.name, values, momentum: read() } : { name: t.name, values });
  }
  if (at !== bytes.length) throw bad(`${bytes.length - at} bytes after the last tensor`);
  return {
    epoch: epoch as number,
    fingerprint: fingerprint as Record<string, unknown>,
    history: history as EpochRecord[],
    tensors: out,
    ...(state === undefined ? {} : { state }),
  };
}
