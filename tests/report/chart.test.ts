// The SVG charts are well-formed standalone documents, bars are to scale, and every name is escaped.
import assert from "node:assert/strict";
import { test } from "node:test";
import { accuracyMacsChart, layerChannelsChart } from "../../src/report/chart.ts";

/** XML escaping as the charts must do it. */
const escapeXml = (s: string) =>
  s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");

/**
 * A small structural XML check (no DOMParser in Node): one root element, every tag closed in order,
 * attribute values quoted, no raw `<` or stray `&` in text or attributes. Returns the element names.
 */
function checkXml(xml: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  const entity = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/y;
  const checkText = (text: string, where: string) => {
    assert.ok(!text.includes("<"), `raw < in ${where}`);
    for (let i = text.indexOf("&"); i >= 0; i = text.indexOf("&", i + 1)) {
      entity.lastIndex = i;
      assert.ok(entity.test(text), `stray & in ${where}: ${text.slice(i, i + 12)}`);
    }
  };
  let i = 0;
  let roots = 0;
  while (i < xml.length) {
    const lt = xml.indexOf("<", i);
    const text = lt < 0 ? xml.slice(i) : xml.slice(i, lt);
    if (stack.length === 0) assert.equal(text.trim(), "", "text outside the root element");
    else checkText(text, `text in <${stack.at(-1)}>`);
    if (lt < 0) break;
    const gt = xml.indexOf(">", lt);
    assert.ok(gt > lt, "unterminated tag");
    const tag = xml.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith("/")) {
      assert.equal(tag.slice(1).trim(), stack.pop(), "mismatched closing tag");
      continue;
    }
    const m = /^([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"]*")*)\s*(\/?)$/.exec(tag);
    assert.ok(m, `malformed tag <${tag}>`);
    const [, name, attrs, selfClosing] = m;
    for (const a of attrs!.matchAll(/="([^"]*)"/g)) checkText(a[1]!, `an attribute of <${name}>`);
    const attrNames = [...attrs!.matchAll(/([\w:.-]+)="/g)].map((a) => a[1]);
    assert.equal(new Set(attrNames).size, attrNames.length, `duplicate attribute in <${name}>`);
    names.push(name!);
    if (stack.length === 0) roots++;
    if (selfClosing !== "/") stack.push(name!);
  }
  assert.deepEqual(stack, [], "unclosed elements");
  assert.equal(roots, 1, "exactly one root element");
  return names;
}

const attr = (tag: string, name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1];
const rects = (svg: string, cls: string) =>
  [...svg.matchAll(new RegExp(`<rect class="${cls}"[^>]*>`, "g"))].map((m) => Number(attr(m[0], "width")));

const layers = [
  { name: "conv1", before: 64, after: 32 },
  { name: "conv2", before: 128, after: 100 },
  { name: "fc", before: 16, after: 16 },
];

test("layerChannelsChart is a standalone, well-formed SVG document", () => {
  const svg = layerChannelsChart(layers, { title: "LeNet" });
  const names = checkXml(svg);
  assert.equal(names[0], "svg");
  assert.ok(names.includes("title") && names.includes("desc"));
  const root = /^<svg[^>]*>/.exec(svg)![0];
  assert.equal(attr(root, "xmlns"), "http://www.w3.org/2000/svg");
  const [w, h] = [Number(attr(root, "width")), Number(attr(root, "height"))];
  assert.ok(w > 0 && h > 0);
  assert.equal(attr(root, "viewBox"), `0 0 ${w} ${h}`);
  assert.match(svg, /<title id="chart-title">LeNet<\/title>/);
  assert.match(svg, /<desc[^>]*>[^<]*conv2: 100 of 128/);
});

test("layerChannelsChart bars are proportional to the channel counts", () => {
  const svg = layerChannelsChart(layers);
  const before = rects(svg, "before");
  const after = rects(svg, "after");
  assert.equal(before.length, 3);
  assert.equal(after.length, 3);
  const scale = before[1]! / 128; // the longest bar
  assert.ok(scale > 1, "bars are drawn at a readable scale");
  for (const [i, l] of layers.entries()) {
    assert.ok(Math.abs(before[i]! - l.before * scale) < 0.02, `${l.name} before`);
    assert.ok(Math.abs(after[i]! - l.after * scale) < 0.02, `${l.name} after`);
  }
});

test("layerChannelsChart escapes names and keeps long names whole in <title>", () => {
  const evil = `a<b>&"c'</text><script>alert(1)</script>`;
  const long = `features.${"very_long_block_name.".repeat(5)}conv`;
  const svg = layerChannelsChart(
    [
      { name: evil, before: 4, after: 2 },
      { name: long, before: 8, after: 1 },
    ],
    { title: "<&>" },
  );
  checkXml(svg);
  assert.ok(!svg.includes("<script"));
  assert.ok(svg.includes(escapeXml(evil)));
  assert.ok(svg.includes('<title id="chart-title">&lt;&amp;&gt;</title>'));
  assert.ok(svg.includes(`<title>${long}: 1 of 8 channels kept</title>`), "full name in the row title");
  const label = [...svg.matchAll(/text-anchor="end" fill="[^"]*">([^<]*)<\/text>/g)].map((m) => m[1]!);
  assert.equal(label.length, 2);
  assert.ok([...label[1]!].length <= 28 && label[1]!.endsWith("…"), label[1]);
  const control = layerChannelsChart([{ name: "a\u0001b", before: 1, after: 1 }]);
  assert.ok(
    !control.includes("\u0001") && control.includes("a\ufffdb"),
    "control characters are not allowed in XML",
  );
});

test("layerChannelsChart handles no layers and huge counts", () => {
  const empty = layerChannelsChart([]);
  checkXml(empty);
  assert.match(empty, /No layers to show/);
  const huge = layerChannelsChart([
    { name: "a", before: 1e12, after: 5e11 },
    { name: "b", before: 3, after: Number.NaN },
  ]);
  checkXml(huge);
  assert.match(huge, /500,000,000,000 \/ 1,000,000,000,000/);
  const after = rects(huge, "after");
  const before = rects(huge, "before");
  assert.ok(after.every(Number.isFinite) && before.every(Number.isFinite));
  assert.ok(Math.abs(after[0]! - before[0]! / 2) < 0.02);
});

test("accuracyMacsChart draws a line with points, and copes with 0 and 1 points", () => {
  const svg = accuracyMacsChart(
    [
      { macs: 1, accuracy: 0.92, label: "original" },
      { macs: 0.7, accuracy: 0.915 },
      { macs: 0.4, accuracy: 0.9, label: "a<b" },
    ],
    { title: "Gate" },
  );
  const names = checkXml(svg);
  assert.equal(names[0], "svg");
  assert.equal(names.filter((n) => n === "circle").length, 3);
  assert.equal(names.filter((n) => n === "polyline").length, 1);
  assert.match(svg, /a&lt;b: 90 % accuracy at 40 % MACs/);
  // x is proportional to MACs: 100 % is right of 70 % is right of 40 %, y rises with accuracy.
  const cx = [...svg.matchAll(/<circle[^>]*cx="([^"]*)" cy="([^"]*)"/g)].map((m) => [
    Number(m[1]),
    Number(m[2]),
  ]);
  assert.ok(cx[0]![0]! > cx[1]![0]! && cx[1]![0]! > cx[2]![0]!);
  assert.ok(cx[0]![1]! < cx[2]![1]!, "higher accuracy is drawn higher");
  const x = cx.map((c) => c[0]!);
  assert.ok(Math.abs((x[0]! - x[1]!) / (x[1]! - x[2]!) - 1) < 0.01, "equal MACs steps are equal distances");

  const none = accuracyMacsChart([]);
  checkXml(none);
  assert.match(none, /No points to show/);
  const one = accuracyMacsChart([{ macs: 0.5, accuracy: 0.5 }]);
  assert.equal(checkXml(one).filter((n) => n === "circle").length, 1);
  assert.ok(!one.includes("<polyline"));
  const bad = accuracyMacsChart([
    { macs: Number.NaN, accuracy: 1 },
    { macs: 0.5, accuracy: 0.8 },
  ]);
  checkXml(bad);
  assert.match(bad, /1 non-finite point left out/);
});
