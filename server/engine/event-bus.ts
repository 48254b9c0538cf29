import type { TaskEvent } from "../../gen/noizylab/agent/v1/task_pb.js";
import type { TaskTag } from "../store/store.js";

/** TaskEventListener receives events as they are committed, with their task's type and key. */
export type TaskEventListener = (event: TaskEvent, task: TaskTag) => void;

/** EventBus fans committed task events out to the watchers of each task. */
export interface EventBus {
  /** subscribe calls listener with every event of the task from now on; returns the unsubscribe. */
  subscribe(taskId: string, listener: TaskEventListener): () => void;
  /** subscribeAll calls listener with every event of every task from now on. */
  subscribeAll(listener: TaskEventListener): () => void;
  /** publish delivers a committed event to its task's listeners and to everyone's. */
  publish(event: TaskEvent, task: TaskTag): void;
  /**
   * remind delivers an event again to its task's listeners only, so they notice events they
   * may have missed (listeners of a task skip what they have seen and read holes from the store).
   */
  remind(event: TaskEvent, task: TaskTag): void;
  /** watchedTaskIds lists the tasks with listeners of their own. */
  watchedTaskIds(): string[];
}

/** createEventBus makes an in-process event bus. */
export function createEventBus(): EventBus {
  const listeners = new Map<string, Set<TaskEventListener>>();
  const everything = new Set<TaskEventListener>();
  return {
    subscribe(taskId, listener) {
      let set = listeners.get(taskId);
      if (set === undefined) {
        set = new Set();
        listeners.set(taskId, set);
      }
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0 && listeners.get(taskId) === set) listeners.delete(taskId);
      };
    },
    subscribeAll(listener) {
      everything.add(listener);
      return () => everything.delete(listener);
    },
    publish(event, task) {
      for (const listener of everything) listener(event, task);
      this.remind(event, task);
    },
    remind(event, task) {
      const set = listeners.get(event.taskId);
      if (set === undefined) return;
      for (const listener of set) listener(event, task);
    },
    watchedTaskIds: () => [...listeners.keys()],
  };
}
