// Browser checks of the web demo, run by tests/test_web.py against a running `invdn web` site:
//   node web_demo/tests/run.mjs --url URL --golden DIR --photo PNG --corrupt FILE --out DIR [--calm PNG]
//                               [--bench QUERY]
// Headless Debian Chromium (/usr/bin/chromium, or $CHROMIUM) driven by playwright-core; no browser download.
// Writes OUT/report.json (every check's numbers), OUT/output.f32 (the page's float output of the photo, HWC
// little-endian float32, before 8-bit rounding; OUT/output-calm.f32 likewise for --calm, a photo with little noise,
// so the noise-adaptive strength blends), OUT/bench.json (the benchmark mode's results) and
// OUT/screenshot.png (the before/after view). Exit 0 when it could run the checks (the verdicts are the caller's).

import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    golden: { type: "string" },
    photo: { type: "string" },
    calm: { type: "string" },
    corrupt: { type: "string" },
    notimage: { type: "string" },
    out: { type: "string" },
    bench: { type: "string", default: "sizes=64&repeats=2&warmup=1&models=fp32&backends=wasm,webgpu" },
    timeout: { type: "string", default: "300" },
  },
});
for (const key of ["url", "golden", "photo", "corrupt", "out"]) {
  if (!args[key]) {
    console.error(`missing --${key}`);
    process.exit(2);
  }
}
const timeout = Number(args.timeout) * 1000;
const report = { pageErrors: [], consoleErrors: [] };
fs.mkdirSync(args.out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // WebGPU without a GPU: Chromium's own software Vulkan (SwiftShader) gives an adapter with this flag
  args: ["--enable-unsafe-webgpu"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 820 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.on("pageerror", (err) => report.pageErrors.push(err.message));
  page.on("console", (msg) => {
    if (msg.type() === "error") report.consoleErrors.push(msg.text());
  });
  const base = args.url.endsWith("/") ? args.url : `${args.url}/`;

  // 1. The page loads its manifest and reports its state.
  await page.goto(`${base}?test=1`);
  await page.waitForFunction(() => window.invdn && window.invdn.state !== "loading", null, { timeout });
  report.load = await page.evaluate(() => ({
    state: window.invdn.state,
    error: window.invdn.error,
    models: window.invdn.models,
    crossOriginIsolated: self.crossOriginIsolated,
  }));

  // 2. tiling.js against the golden vectors, in the page.
  const golden = {};
  for (const name of ["plans.json", "padding.json", "blend.json", "strength.json"]) {
    golden[name] = JSON.parse(fs.readFileSync(path.join(args.golden, name), "utf8"));
  }
  report.golden = await page.evaluate(async (g) => {
    const t = await import("./tiling.js");
    const f32 = (b64) => {
      const bin = atob(b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      return new Float32Array(bytes.buffer);
    };
    const maxDiff = (a, b) => {
      let m = a.length === b.length ? 0 : Infinity;
      for (let i = 0; i < Math.min(a.length, b.length); i++) m = Math.max(m, Math.abs(a[i] - b[i]));
      return m;
    };
    const out = { plans: 0, planMismatches: [], windowMaxErr: 0, padding: [], blend: [], strength: {} };
    for (const c of g["plans.json"].cases) {
      const p = t.plan(c.height, c.width, c.tile, c.overlap, c.multiple);
      const tiles = p.origins.map(([y, x]) => [y, x, c.tile, c.tile]);
      out.plans += 1;
      if (JSON.stringify([tiles, p.padded, p.ys, p.xs]) !== JSON.stringify([c.tiles, c.padded, c.ys, c.xs])) {
        out.planMismatches.push(`${c.height}x${c.width} tile ${c.tile} overlap ${c.overlap}`);
      }
      const wy = t.axisWindows(p.ys, p.tile);
      const wx = t.axisWindows(p.xs, p.tile);
      c.window_y.forEach((w, i) => (out.windowMaxErr = Math.max(out.windowMaxErr, maxDiff(w, wy[i] || []))));
      c.window_x.forEach((w, i) => (out.windowMaxErr = Math.max(out.windowMaxErr, maxDiff(w, wx[i] || []))));
    }
    for (const c of g["padding.json"].cases) {
      const img = t.floatImage(f32(c.image), c.height, c.width, 3);
      const padded = t.padImage(img, t.plan(c.height, c.width, c.tile, 0));
      const maxErr = maxDiff(padded, f32(c.expected));
      out.padding.push({ case: `${c.height}x${c.width} to ${c.padded.join("x")}`, maxErr });
    }
    const b = g["blend.json"];
    const img = t.floatImage(f32(b.image), b.height, b.width, b.channels);
    for (const c of b.cases) {
      const p = t.plan(b.height, b.width, c.tile, c.overlap);
      const whole = await t.runTiled(img, t.goldenStub(c.tile, b.channels), p);
      // and the streaming path the worker uses (rows handed out as they finish)
      const streamed = new Float32Array(b.height * b.width * b.channels);
      await t.runTiled(img, t.goldenStub(c.tile, b.channels), p, {
        onRows: (y0, rows, values) => streamed.set(values, y0 * b.width * b.channels),
      });
      const expected = f32(c.expected);
      out.blend.push({
        case: `tile ${c.tile} overlap ${c.overlap}`,
        tiles: p.length,
        expectedTiles: c.tiles,
        maxErr: maxDiff(whole, expected),
        streamedMaxErr: maxDiff(streamed, expected),
      });
    }
    // strength.js: the sigma estimate, the curve and the blend.
    const st = await import("./strength.js");
    const sg = g["strength.json"];
    const sigmaOf = (c) => st.estimateSigma(t.floatImage(f32(c.image), c.height, c.width, 3));
    out.strength.sigmaMaxErr = Math.max(...sg.cases.map((c) => Math.abs(sigmaOf(c) - c.expected)));
    out.strength.sigmaCases = sg.cases.length;
    const curveErr = (q) => Math.abs(st.strengthAt(sg.curve, q.sigma) - q.expected);
    out.strength.curveMaxErr = Math.max(...sg.queries.map(curveErr));
    const bl = sg.blend;
    const noisyImg = t.floatImage(f32(bl.noisy), bl.height, bl.width, 3);
    const blended = (c) => st.blendRows(noisyImg, 0, bl.height, f32(bl.denoised), c.strength);
    out.strength.blendMaxErr = Math.max(...bl.cases.map((c) => maxDiff(blended(c), f32(c.expected))));
    out.strength.blendCases = bl.cases.length;
    return out;
  }, golden);

  // 3. A photo end to end through the UI (file input), the float output kept by ?test=1.
  const runPhoto = async (file, floatName) => {
    const started = Date.now();
    await page.setInputFiles("#file", file);
    await page.waitForFunction(() => ["done", "error"].includes(window.invdn.state), null, { timeout });
    const photo = await page.evaluate(() => {
      const o = window.invdn.output;
      if (!o || !o.float) return { state: window.invdn.state, error: window.invdn.error };
      const bytes = new Uint8Array(o.float.buffer);
      let bin = "";
      for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return {
        state: window.invdn.state,
        error: window.invdn.error,
        width: o.width,
        height: o.height,
        tiles: o.tiles,
        ms: o.ms,
        sigma: o.sigma,
        strength: o.strength,
        model: o.model,
        backend: o.backend,
        float: btoa(bin),
        backendInfo: window.invdn.backendInfo,
        status: document.getElementById("status").textContent,
        download: !document.getElementById("download").hidden,
      };
    });
    photo.wallMs = Date.now() - started;
    if (photo.float) fs.writeFileSync(path.join(args.out, floatName), Buffer.from(photo.float, "base64"));
    delete photo.float;
    return photo;
  };
  if (args.calm) report.calm = await runPhoto(args.calm, "output-calm.f32");
  report.photo = await runPhoto(args.photo, "output.f32");
  const downloadShown = () => !document.getElementById("download").hidden;
  await page.waitForFunction(downloadShown, null, { timeout: 10000 }).catch(() => {});
  report.photo.download = await page.evaluate(() => !document.getElementById("download").hidden);
  await page.screenshot({ path: path.join(args.out, "screenshot.png") });

  // 4. Cancel: run the photo again, cancel after the first tile; the page says so and stays usable.
  await page.click("#run");
  const firstTileDone = () =>
    window.invdn.state === "running" &&
    !document.getElementById("progress-row").hidden &&
    document.getElementById("progress").value >= 1;
  await page.waitForFunction(firstTileDone, null, { timeout, polling: 20 }); // a timer: rAF starves under load
  await page.click("#cancel");
  await page.waitForFunction(() => window.invdn.state !== "running", null, { timeout: 30000 }).catch(() => {});
  report.cancel = await page.evaluate(() => ({
    state: window.invdn.state,
    status: document.getElementById("status").textContent,
    progressHidden: document.getElementById("progress-row").hidden,
  }));

  // 5. A corrupt file (and optionally a non-image): a clear error in the page, no crash, the page still works.
  report.bad = [];
  for (const file of [args.corrupt, args.notimage].filter(Boolean)) {
    await page.evaluate(() => {
      window.invdn.error = null;
    });
    await page.setInputFiles("#file", file);
    await page.waitForFunction(() => window.invdn.error, null, { timeout: 30000 }).catch(() => {});
    report.bad.push(
      await page.evaluate((name) => {
        const el = document.getElementById("error");
        const shown = !el.hidden ? el.textContent : null;
        return { file: name, error: window.invdn.error, shown, state: window.invdn.state };
      }, path.basename(file)),
    );
  }
  report.aliveAfterBad = await page.evaluate(() => 1 + 1 === 2 && !!document.getElementById("file"));

  // 6. The photo again on the WebGPU backend (SwiftShader here), its float output kept for the comparison.
  await page.goto(`${base}?test=1&backend=webgpu`);
  await page.waitForFunction(() => window.invdn && window.invdn.state !== "loading", null, { timeout });
  report.photoWebgpu = await runPhoto(args.photo, "output-webgpu.f32");

  // 7. Benchmark mode.
  await page.goto(`${base}?bench=1&${args.bench}`);
  await page.waitForFunction(() => window.benchDone === true, null, { timeout });
  const bench = await page.evaluate(() => ({ result: window.benchResult || null, error: window.benchError || null }));
  report.bench = { error: bench.error, rows: bench.result ? bench.result.rows.length : 0 };
  if (bench.result) fs.writeFileSync(path.join(args.out, "bench.json"), JSON.stringify(bench.result, null, 2));
} catch (err) {
  report.fatal = String(err && err.stack ? err.stack : err);
} finally {
  await browser.close();
}
fs.writeFileSync(path.join(args.out, "report.json"), JSON.stringify(report, null, 2));
console.log(JSON.stringify({ ok: !report.fatal, fatal: report.fatal || null }));
