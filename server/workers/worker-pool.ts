import { Worker } from "node:worker_threads";
import { Code, ConnectError } from "@connectrpc/connect";
import { FairQueue } from "../lib/fair-queue.js";
import type { JobReply, JobRequest, JobSpec } from "./worker-messages.js";

/** Job is a task to run on a worker thread. */
export interface Job extends JobSpec {
  /** Aborting stops the job at once: its worker is terminated and replaced. */
  readonly signal: AbortSignal;
  /** Called with the job's progress reports. */
  readonly progress: (percent: number, note: string) => void;
}

/**
 * WorkerPool runs CPU-heavy tasks on worker threads, so the event loop keeps answering while
 * they work. Jobs wait for a free worker, shared fairly among the API keys that submitted
 * them: round robin across keys, each key's in order, none holding more than its share.
 */
export interface WorkerPool {
  /** run resolves with the job's encoded result, or rejects with its error. */
  run(job: Job): Promise<Uint8Array>;
  /** The number of worker threads. */
  readonly size: number;
  /** close terminates the workers; jobs still running or waiting reject. */
  close(): Promise<void>;
}

interface Pending {
  readonly id: number;
  readonly job: Job;
  readonly resolve: (output: Uint8Array) => void;
  readonly reject: (error: unknown) => void;
}

interface Slot {
  worker: Worker | undefined;
  current: Pending | undefined;
}

const entry = new URL("./worker-entry.mjs", import.meta.url);
const shuttingDown = () => new ConnectError("the server is shutting down", Code.Unavailable);

/** WorkerPoolOptions size the pool and each key's share of it. */
export interface WorkerPoolOptions {
  /** The number of worker threads. */
  readonly size: number;
  /** The most threads one API key's jobs may hold at once. */
  readonly maxThreadsPerKey: number;
}

/** createWorkerPool makes a pool of up to `size` worker threads. */
export function createWorkerPool({ size, maxThreadsPerKey }: WorkerPoolOptions): WorkerPool {
  const waiting = new FairQueue<Pending>();
  // Threads each key's jobs hold now.
  const holding = new Map<string, number>();
  const hold = (keyId: string, change: number) => {
    const now = (holding.get(keyId) ?? 0) + change;
    if (now === 0) holding.delete(keyId);
    else holding.set(keyId, now);
  };
  const mayStart = (keyId: string) => (holding.get(keyId) ?? 0) < maxThreadsPerKey;
  let nextId = 1;
  let closed = false;

  function spawn(slot: Slot): Worker {
    const worker = new Worker(entry);
    // An idle worker must not keep the process alive.
    worker.unref();
    worker.on("message", (reply: JobReply) => {
      if (slot.worker === worker) settle(slot, reply);
    });
    worker.on("error", (error) => {
      if (slot.worker === worker) replace(slot, error);
    });
    worker.on("exit", (code) => {
      if (!closed && slot.worker === worker) {
        replace(slot, new Error(`a worker thread exited (${code})`));
      }
    });
    return worker;
  }

  // Threads start when first needed: a server that runs no CPU-heavy task pays nothing.
  const slots: Slot[] = Array.from({ length: size }, () => ({
    worker: undefined,
    current: undefined,
  }));

  function settle(slot: Slot, reply: JobReply): void {
    const current = slot.current;
    if (current === undefined || current.id !== reply.id) return;
    if ("progress" in reply) {
      current.job.progress(reply.progress.percent, reply.progress.note);
      return;
    }
    free(slot, current);
    if ("output" in reply) current.resolve(reply.output);
    else current.reject(new ConnectError(reply.error.message, reply.error.code as Code));
  }

  /** replace ends the slot's job with an error and puts a new worker in its place. */
  function replace(slot: Slot, error: unknown): void {
    const current = slot.current;
    slot.worker?.terminate().catch(() => {});
    slot.worker = undefined;
    slot.current = undefined;
    if (current) hold(current.job.keyId, -1);
    current?.reject(error);
    queueMicrotask(dispatch);
  }

  function free(slot: Slot, done: Pending): void {
    slot.current = undefined;
    hold(done.job.keyId, -1);
    slot.worker?.unref();
    queueMicrotask(dispatch);
  }

  function dispatch(): void {
    for (const slot of slots) {
      if (slot.current !== undefined) continue;
      const next = waiting.shift(mayStart);
      if (next === undefined) return;
      const [, pending] = next;
      hold(pending.job.keyId, 1);
      slot.current = pending;
      slot.worker ??= spawn(slot);
      slot.worker.ref();
      const { signal: _, progress: __, ...spec } = pending.job;
      // A message encoded here may be a view into a slab of Node's Buffer pool (see
      // pooled-protobuf-writer.ts), which posting would copy whole: it goes as its own bytes.
      const { input } = spec;
      const own = input.byteLength === input.buffer.byteLength ? input : input.slice();
      const request: JobRequest = { id: pending.id, ...spec, input: own };
      slot.worker.postMessage(request);
    }
  }

  /** abort drops a waiting job, or stops a running one by replacing its worker. */
  function abort(pending: Pending): void {
    if (waiting.delete(pending.job.keyId, pending)) {
      pending.reject(pending.job.signal.reason);
      return;
    }
    // A handler busy with the CPU cannot be interrupted: its worker is terminated instead.
    const slot = slots.find((s) => s.current === pending);
    if (slot) replace(slot, pending.job.signal.reason);
  }

  return {
    size,
    run(job) {
      if (closed) return Promise.reject(shuttingDown());
      if (job.signal.aborted) return Promise.reject(job.signal.reason);
      return new Promise<Uint8Array>((resolve, reject) => {
        const onAbort = () => abort(pending);
        const pending: Pending = {
          id: nextId++,
          job,
          resolve: (output) => {
            job.signal.removeEventListener("abort", onAbort);
            resolve(output);
          },
          reject: (error) => {
            job.signal.removeEventListener("abort", onAbort);
            reject(error);
          },
        };
        job.signal.addEventListener("abort", onAbort, { once: true });
        waiting.push(job.keyId, pending);
        dispatch();
      });
    },
    async close() {
      closed = true;
      for (let next = waiting.shift(); next; next = waiting.shift()) next[1].reject(shuttingDown());
      await Promise.all(
        slots.map(async (slot) => {
          slot.current?.reject(shuttingDown());
          slot.current = undefined;
          await slot.worker?.terminate();
        }),
      );
    },
  };
}
