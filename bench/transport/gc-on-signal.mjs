// Preloaded into every server the transport bench starts (node --expose-gc --import): SIGUSR2
// collects garbage, so memory is read after a collection instead of wherever the collector
// happened to be.
process.on("SIGUSR2", () => {
  globalThis.gc?.();
  process.stderr.write("collected\n");
});
