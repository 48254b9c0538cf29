// Preloaded into every server the benches start (node --expose-gc --import): SIGUSR2 collects
// garbage and prints the live heap after it, so memory is read after a collection instead of
// wherever the collector happened to be.
process.on("SIGUSR2", () => {
  globalThis.gc?.();
  process.stderr.write(`collected ${process.memoryUsage().heapUsed}\n`);
});
