// The app of the bundler test, as a user would write it: import "prunekit", prune a model, summarise
// the result. Runs unchanged in Node and, bundled by esbuild or Vite, in a page.
import { loadModel, prune } from "prunekit";

/** Prune an ONNX model's bytes; the output's SHA-256 (hex), its length and the kept channels. */
export async function run(bytes, options) {
  const { bytes: out, report } = await prune(await loadModel(bytes), options);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", out));
  return {
    sha256: Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""),
    byteLength: out.length,
    kept: report.layers.map((layer) => layer.kept),
  };
}

/** `run` on a model fetched from `url` (the page's side). */
export async function runUrl(url, options) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return run(new Uint8Array(await response.arrayBuffer()), options);
}
