/**
 * MaybePromise is a value now, or a promise of it: what a step on a hot path returns that
 * usually needs no I/O (a key already in memory, a request already read) and sometimes does.
 * Awaiting a value that is there costs a promise and a turn of the microtask queue, per call.
 */
export type MaybePromise<T> = T | Promise<T>;

/**
 * andThen passes a value to `next` now, or when its promise resolves; a rejection goes through
 * `failed` (next's own errors do not). A chain of steps that needed no I/O so costs no promise
 * and no turn of the microtask queue: the door's admission of a known key is one.
 */
export function andThen<T, R>(
  value: MaybePromise<T>,
  next: (value: T) => MaybePromise<R>,
  failed: (error: unknown) => unknown,
): MaybePromise<R> {
  if (!(value instanceof Promise)) return next(value);
  return value.then(next, (error: unknown) => {
    throw failed(error);
  });
}
