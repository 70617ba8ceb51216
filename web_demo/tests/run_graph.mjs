// Run ONNX models in headless Chromium with onnxruntime-web and save every output, for scripts/webgpu_bisect.py:
//   node web_demo/tests/run_graph.mjs --dir DIR
// DIR holds jobs.json, [{"name", "model", "inputs": {name: {"file", "dims"}}, "ep": "wasm"|"webgpu",
// "options": {session options}}], the models and the inputs (little-endian float32). For each job it writes
// DIR/out/NAME.json ({"outputs": [{"name", "dims", "file"}], "error", "gpu"}) and one float32 file per output.
// The same browser set-up as run.mjs (Debian's chromium, --enable-unsafe-webgpu: SwiftShader's adapter); extra
// Chromium flags from $CHROMIUM_ARGS (space-separated).

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: args } = parseArgs({ options: { dir: { type: "string" }, timeout: { type: "string", default: "600" } } });
if (!args.dir) {
  console.error("missing --dir");
  process.exit(2);
}
const dir = path.resolve(args.dir);
const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "node_modules", "onnxruntime-web", "dist");
const jobs = JSON.parse(fs.readFileSync(path.join(dir, "jobs.json"), "utf8"));
fs.mkdirSync(path.join(dir, "out"), { recursive: true });

const TYPES = { ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  const name = decodeURIComponent(url.pathname).replace(/^\/+/, "");
  const file = name.startsWith("ort/") ? path.join(dist, name.slice(4)) : path.join(dir, name || "index.html");
  const headers = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Content-Type": TYPES[path.extname(file)] || "application/octet-stream",
  };
  if (name === "" || name === "index.html") {
    res.writeHead(200, headers);
    res.end("<!doctype html><title>run_graph</title>");
  } else if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
    res.writeHead(404);
    res.end();
  } else if (req.method === "POST") {
    res.writeHead(405);
    res.end();
  } else {
    res.writeHead(200, headers);
    fs.createReadStream(file).pipe(res);
  }
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://localhost:${server.address().port}/`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--enable-unsafe-webgpu", ...(process.env.CHROMIUM_ARGS || "").split(" ").filter(Boolean)],
});
try {
  const page = await browser.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error") console.error(`console: ${msg.text()}`);
  });
  await page.goto(base);
  for (const job of jobs) {
    const result = await page.evaluate(
      async (job) => {
        const ort = await import("./ort/ort.webgpu.min.mjs");
        ort.env.wasm.wasmPaths = new URL("./ort/", location.href).href;
        ort.env.wasm.numThreads = 1;
        ort.env.logLevel = "error";
        let gpu = null;
        if (job.ep === "webgpu") {
          const adapter = await navigator.gpu?.requestAdapter();
          if (!adapter) return { error: "no WebGPU adapter" };
          ort.env.webgpu.adapter = adapter;
          gpu = {
            vendor: adapter.info?.vendor,
            architecture: adapter.info?.architecture,
            description: adapter.info?.description,
            shaderF16: adapter.features.has("shader-f16") };
        }
        try {
          const bytes = new Uint8Array(await (await fetch(job.model)).arrayBuffer());
          const ep = job.epOptions ? { name: job.ep, ...job.epOptions } : job.ep;
          const session = await ort.InferenceSession.create(bytes, { executionProviders: [ep], ...job.options });
          const feeds = {};
          for (const [name, spec] of Object.entries(job.inputs)) {
            const data = new Float32Array(await (await fetch(spec.file)).arrayBuffer());
            feeds[name] = new ort.Tensor("float32", data, spec.dims);
          }
          const results = await session.run(feeds);
          const outputs = [];
          for (const name of session.outputNames) {
            const t = results[name];
            const data = t.location === "gpu-buffer" ? await t.getData() : t.data;
            const u8 = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
            let bin = "";
            for (let i = 0; i < u8.length; i += 0x8000) bin += String.fromCharCode(...u8.subarray(i, i + 0x8000));
            outputs.push({ name, dims: t.dims, type: t.type, b64: btoa(bin) });
            t.dispose?.();
          }
          await session.release();
          return { outputs, gpu };
        } catch (err) {
          return { error: String(err && err.message ? err.message : err) };
        }
      },
      job,
    );
    const record = { error: result.error || null, gpu: result.gpu || null, outputs: [] };
    (result.outputs || []).forEach((o, i) => {
      const file = `${job.name}.${i}.f32`;
      fs.writeFileSync(path.join(dir, "out", file), Buffer.from(o.b64, "base64"));
      record.outputs.push({ name: o.name, dims: o.dims, type: o.type, file });
    });
    fs.writeFileSync(path.join(dir, "out", `${job.name}.json`), JSON.stringify(record));
    console.log(`${job.name}: ${record.error || `${record.outputs.length} outputs`}`);
  }
} finally {
  await browser.close();
  server.close();
}
