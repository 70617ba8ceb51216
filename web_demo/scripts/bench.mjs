// Run the web demo's benchmark mode in headless Chromium against a running `invdn web` and write the results JSON
// (benchmarks/schema/results.schema.json; `invdn bench ingest` reads it).
//
//   node web_demo/scripts/bench.mjs [--url http://127.0.0.1:8765/] [--sizes 256] [--repeats 10] [--warmup 2]
//        [--models fp32,int8] [--backends wasm] [--fp16wasm] [--threads N] [--machine NAME] [--out FILE]
//
// Uses the system Chromium (/usr/bin/chromium, or $CHROMIUM) through playwright-core; nothing is downloaded.
// Default output: benchmarks/results/chromium-<backends>-<YYYY-MM-DD>.json.

import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: args } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:8765/" },
    sizes: { type: "string", default: "256" },
    repeats: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    models: { type: "string" },
    backends: { type: "string", default: "wasm" },
    fp16wasm: { type: "boolean", default: false },
    threads: { type: "string" },
    machine: { type: "string" },
    out: { type: "string" },
    timeout: { type: "string", default: "3600" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  console.log(fs.readFileSync(new URL(import.meta.url), "utf8").split("\n").slice(0, 8).join("\n"));
  process.exit(0);
}

const query = new URLSearchParams({ bench: "1", sizes: args.sizes, repeats: args.repeats, warmup: args.warmup });
query.set("backends", args.backends);
if (args.models) query.set("models", args.models);
if (args.fp16wasm) query.set("fp16wasm", "1");
if (args.threads) query.set("threads", args.threads);
if (args.machine) query.set("machine", args.machine);
const base = args.url.endsWith("/") ? args.url : `${args.url}/`;
const url = `${base}?${query}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: args.backends.includes("webgpu") ? ["--enable-unsafe-webgpu"] : [],
});
let result;
try {
  const page = await browser.newPage();
  page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
  console.error(`benchmark: ${url}`);
  await page.goto(url);
  let shown = 0;
  const deadline = Date.now() + Number(args.timeout) * 1000;
  for (;;) {
    const state = await page.evaluate(() => ({
      done: window.benchDone === true,
      log: document.getElementById("bench-log")?.textContent || "",
      error: window.benchError || null,
      result: window.benchDone ? window.benchResult || null : null,
    }));
    const lines = state.log.split("\n").filter(Boolean);
    for (const line of lines.slice(shown)) console.error(`  ${line}`);
    shown = lines.length;
    if (state.done) {
      if (!state.result) throw new Error(state.error || "the page produced no result");
      result = state.result;
      break;
    }
    if (Date.now() > deadline) throw new Error(`no result within ${args.timeout} s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
} catch (err) {
  console.error(`error: ${err.message}`);
  await browser.close();
  process.exit(1);
}
await browser.close();

const date = result.date.slice(0, 10);
const name = `chromium-${args.backends.split(",").join("-")}-${date}.json`;
const out = args.out || path.join("benchmarks", "results", name);
fs.mkdirSync(path.dirname(out), { recursive: true });
const tmp = `${out}.${process.pid}.part`;
fs.writeFileSync(tmp, JSON.stringify(result, null, 2) + "\n");
fs.renameSync(tmp, out);
for (const r of result.rows) {
  const ok = r.status === "ok";
  const ms = ok ? `median ${r.median_ms.toFixed(1)} ms, p90 ${r.p90_ms.toFixed(1)} ms` : `${r.status}: ${r.error}`;
  console.log(`${r.backend.padEnd(15)} ${r.precision.padEnd(5)} ${r.size.padStart(9)}  ${ms}`);
}
console.log(`wrote ${out}`);
