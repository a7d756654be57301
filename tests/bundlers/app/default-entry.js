// The page for bundlers that emit `new URL("...", import.meta.url)` assets themselves (Vite,
// webpack 5): the app configures nothing.
import { runUrl } from "./run.js";

globalThis.prunekitRunUrl = runUrl;
