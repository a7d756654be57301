// The host a benchmark ran on, for every absolute figure it prints: CPU model, vendor family / model /
// stepping numbers, the vector extensions that decide which kernels a native library picks, clock,
// core count, Node and V8 versions, and the load average at the time of the stamp. Read from
// /proc/cpuinfo on Linux; elsewhere only what node:os knows.
import { readFileSync } from "node:fs";
import os from "node:os";

/** Vector extensions worth naming for f32 kernels, in /proc/cpuinfo's spelling. */
const VECTOR_FLAGS = ["sse4_1", "avx", "avx2", "fma", "avx512f", "avx512vl", "avx512_fp16"];

export interface HostInfo {
  cpu: string;
  /** "GenuineIntel family 6 model 143 stepping 8", or "" when unknown. */
  cpuId: string;
  /** The entries of VECTOR_FLAGS this CPU reports. */
  vectorFlags: string[];
  /** Clock of the first core as the kernel reports it, MHz (0 when unknown). */
  mhz: number;
  cores: number;
  node: string;
  v8: string;
  platform: string;
  /** 1-minute load average when the stamp was taken. */
  load1: number;
}

/** Read the host's identity (cheap; call it again for a fresh load average). */
export function hostInfo(): HostInfo {
  const info: Record<string, string> = {};
  try {
    const text = readFileSync("/proc/cpuinfo", "utf8");
    // The first processor block is enough: the bench runs on one core.
    for (const line of text.split("\n\n")[0]!.split("\n")) {
      const i = line.indexOf(":");
      if (i > 0) info[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
  } catch {
    // Not Linux: fall back to node:os below.
  }
  const flags = new Set((info.flags ?? "").split(/\s+/));
  const cpus = os.cpus();
  return {
    cpu: info["model name"] ?? cpus[0]?.model ?? "unknown CPU",
    cpuId:
      info.vendor_id === undefined
        ? ""
        : `${info.vendor_id} family ${info["cpu family"]} model ${info.model} stepping ${info.stepping}`,
    vectorFlags: VECTOR_FLAGS.filter((f) => flags.has(f)),
    mhz: Number(info["cpu MHz"] ?? cpus[0]?.speed ?? 0),
    cores: cpus.length,
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.arch()}`,
    load1: os.loadavg()[0] ?? 0,
  };
}

/** One line naming the host, for the top of a benchmark's output and its README table. */
export function hostStamp(h: HostInfo = hostInfo()): string {
  const id = h.cpuId === "" ? "" : ` (${h.cpuId})`;
  const flags = h.vectorFlags.length === 0 ? "no vector flags read" : h.vectorFlags.join(" ");
  return `${h.cpu}${id}, ${flags}, ${h.mhz.toFixed(0)} MHz, ${h.cores} cores, Node ${h.node}, V8 ${h.v8}, ${h.platform}, load average ${h.load1.toFixed(2)}`;
}
