// Headless Chromium rasterises both SVG charts into a non-blank image: the documents are valid SVG a
// browser draws, not only well-formed text.
import assert from "node:assert/strict";
import { test } from "node:test";
import { chromium } from "playwright-core";
import { accuracyMacsChart, layerChannelsChart } from "../../src/report/chart.ts";
import { CHROMIUM_ARGS, chromiumPath, haveChromium, NO_CHROMIUM } from "../helpers/runtimes.ts";

const charts: Record<string, string> = {
  layers: layerChannelsChart([
    { name: "conv1", before: 64, after: 32 },
    { name: "conv2 & <friends>", before: 128, after: 100 },
  ]),
  trajectory: accuracyMacsChart([
    { macs: 1, accuracy: 0.92 },
    { macs: 0.6, accuracy: 0.9 },
    { macs: 0.3, accuracy: 0.85 },
  ]),
};

test("Chromium rasterises both charts into non-blank images", async (t) => {
  if (!haveChromium("the chart rendering test")) {
    t.skip(NO_CHROMIUM);
    return;
  }
  const browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    for (const [name, svg] of Object.entries(charts)) {
      // As an <img> from a blob, drawn on a canvas: the browser's own SVG parser must accept the
      // standalone document (a parse error gives a load error, not a blank image).
      const stats = await page.evaluate(async (text) => {
        const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
        const img = new Image();
        await new Promise<void>((resolve, reject) => {
          img.onload = () => resolve();
          img.onerror = () => reject(new Error("the SVG did not load"));
          img.src = url;
        });
        const canvas = document.createElement("canvas");
        canvas.width = img.naturalWidth;
        canvas.height = img.naturalHeight;
        const ctx = canvas.getContext("2d")!;
        ctx.drawImage(img, 0, 0);
        const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
        const colours = new Set<number>();
        let nonWhite = 0;
        for (let i = 0; i < data.length; i += 4) {
          const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
          if (r < 240 || g < 240 || b < 240) nonWhite++;
          colours.add((r << 16) | (g << 8) | b);
        }
        return { width: canvas.width, height: canvas.height, nonWhite, colours: colours.size };
      }, svg);
      assert.ok(stats.width > 100 && stats.height > 50, `${name}: ${JSON.stringify(stats)}`);
      assert.ok(stats.nonWhite > 500, `${name}: only ${stats.nonWhite} non-white pixels`);
      assert.ok(stats.colours >= 4, `${name}: only ${stats.colours} colours`);
      // And as a page of its own (setContent + screenshot), which must not be blank either.
      await page.setContent(svg);
      const png = await page.locator("svg").screenshot();
      assert.ok(png.length > 2000, `${name}: screenshot of ${png.length} bytes`);
    }
  } finally {
    await browser.close();
  }
});
