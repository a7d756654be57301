// The esbuild page. esbuild does not copy `new URL("...", import.meta.url)` assets, so the build copies
// prunekit.wasm next to the bundle and the app says where it is, once, before the first prune.
import { setWasmSource } from "prunekit";
import { runUrl } from "./run.js";

setWasmSource({ baseline: new URL("./prunekit.wasm", import.meta.url) });
globalThis.prunekitRunUrl = runUrl;
