// Preloaded into the server the soak runs (node --expose-gc --import): every few seconds it
// collects garbage and prints the live heap, for the soak to fit a slope to.
const everyMs = Number(process.env.HEAP_REPORT_MS ?? 10_000);
setInterval(() => {
  globalThis.gc?.();
  process.stderr.write(`heap ${Date.now()} ${process.memoryUsage().heapUsed}\n`);
}, everyMs).unref();
