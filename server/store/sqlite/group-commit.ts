/**
 * groupCommit batches the calls made in one turn of the event loop into one transaction, so
 * they share one fsync; each call still resolves only once its batch has committed. While a
 * commit blocks the loop, the next calls gather, so batches grow with the load. A batch that
 * fails is run again call by call, so one bad call fails alone.
 */
export function groupCommit<Input, Output>(
  runBatch: (inputs: Input[]) => Output[],
  runOne: (input: Input) => Output,
): (input: Input) => Promise<Output> {
  let pending: { input: Input; resolve(output: Output): void; reject(error: unknown): void }[] = [];

  function flush(): void {
    const batch = pending;
    pending = [];
    let outputs: Output[];
    try {
      outputs = runBatch(batch.map((call) => call.input));
    } catch {
      for (const call of batch) {
        try {
          call.resolve(runOne(call.input));
        } catch (error) {
          call.reject(error);
        }
      }
      return;
    }
    batch.forEach((call, i) => {
      call.resolve(outputs[i] as Output);
    });
  }

  return (input) =>
    new Promise((resolve, reject) => {
      pending.push({ input, resolve, reject });
      if (pending.length === 1) setImmediate(flush);
    });
}
