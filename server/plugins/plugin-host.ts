import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import {
  create,
  createMutableRegistry,
  type DescFile,
  type MutableRegistry,
} from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type PluginInfo,
  PluginInfoSchema,
  PluginState,
} from "../../gen/noizylab/agent/v1/plugin_pb.js";
import type { PluginDefinition, PluginTaskDefinition } from "./plugin-api.js";
import { findPluginEntries, importPlugin, moduleUrl, type PluginEntry } from "./plugin-loader.js";

/** LoadedPlugin is a plugin whose tasks run. */
export interface LoadedPlugin {
  readonly definition: PluginDefinition;
  /** The URL its module was imported by: worker threads import the same. */
  readonly url: string;
  /** What ListPlugins reports; hook failures are counted on it. */
  readonly info: PluginInfo;
}

/** PluginTaskRef is a plugin task type with its plugin. */
export interface PluginTaskRef {
  readonly plugin: LoadedPlugin;
  readonly task: PluginTaskDefinition;
}

/** PluginHost loads, unloads and reports the plugins of the plugin directories. */
export interface PluginHost {
  /**
   * The message types of every plugin loaded since the start, so Any payloads resolve and
   * JSON reads and writes them; an unloaded plugin's stay, so its recorded results still read.
   */
  readonly types: MutableRegistry;
  /** loadAll loads every plugin in the directories; one that fails is reported, not thrown. */
  loadAll(): Promise<void>;
  /** load loads a plugin by entry name (anew if loaded); FailedPrecondition says why it failed. */
  load(entry: string): Promise<PluginInfo>;
  /** unload unloads a loaded plugin by name. */
  unload(name: string): Promise<PluginInfo>;
  /** list describes every plugin found or loaded, by entry name. */
  list(): PluginInfo[];
  /** files are the .proto files of the loaded plugins' messages, for reflection. */
  files(): DescFile[];
  /** tasks lists the loaded plugins' task types. */
  tasks(): PluginTaskRef[];
  taskOf(type: string): PluginTaskRef | undefined;
  /** hookFailed reports a hook that threw: counted on the plugin, and logged. */
  hookFailed(plugin: LoadedPlugin, hook: string, error: unknown): void;
  /** close unloads every plugin (their onUnload hooks run). */
  close(): Promise<void>;
}

export interface PluginHostOptions {
  /** Where plugins are found, in order: an entry name is looked up in the first first. */
  readonly directories: readonly string[];
  /** Task types plugins may not take: the server's own. */
  readonly reservedTypes: ReadonlySet<string>;
  /** Where notices for the operator go. */
  readonly log: (line: string) => void;
}

/** The plugins that ship with the server. */
export const bundledPluginDir = fileURLToPath(new URL("../../plugins", import.meta.url));

/** How long onLoad and onUnload may take. */
const lifecycleTimeoutMs = 10_000;

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));

async function withinTimeout(hook: string, run: () => unknown): Promise<void> {
  const timeout = new AbortController();
  try {
    await Promise.race([
      run(),
      sleep(lifecycleTimeoutMs, undefined, { signal: timeout.signal, ref: false }).then(() => {
        throw new Error(`${hook} did not finish within ${lifecycleTimeoutMs} ms`);
      }),
    ]);
  } finally {
    timeout.abort();
  }
}

/** createPluginHost makes the host of the plugins in the given directories. */
export function createPluginHost(options: PluginHostOptions): PluginHost {
  const types = createMutableRegistry();
  const infos = new Map<string, PluginInfo>();
  const loaded = new Map<string, LoadedPlugin>();
  const byType = new Map<string, PluginTaskRef>();
  const generations = new Map<string, number>();
  // Loads and unloads happen one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const done = queue.then(work);
    queue = done.catch(() => {});
    return done;
  };

  function conflictOf(definition: PluginDefinition, entry: string): string | undefined {
    const other = [...loaded.entries()].find(
      ([name, plugin]) => name !== entry && plugin.definition.name === definition.name,
    );
    if (other) return `a plugin named ${definition.name} is loaded from ${other[0]} already`;
    for (const { type } of definition.tasks) {
      if (options.reservedTypes.has(type)) return `task type ${type} is one of the server's own`;
      const owner = byType.get(type)?.plugin;
      if (owner) {
        return `task type ${type} is provided by plugin ${owner.definition.name} already`;
      }
    }
    return undefined;
  }

  async function unloadEntry(entry: string): Promise<PluginInfo | undefined> {
    const plugin = loaded.get(entry);
    if (plugin === undefined) return undefined;
    loaded.delete(entry);
    for (const { type } of plugin.definition.tasks) byType.delete(type);
    plugin.info.state = PluginState.UNLOADED;
    const onUnload = plugin.definition.onUnload;
    if (onUnload) {
      await withinTimeout("onUnload", () => onUnload.call(plugin.definition)).catch((error) =>
        host.hookFailed(plugin, "onUnload", error),
      );
    }
    options.log(`plugin ${plugin.definition.name} unloaded`);
    return plugin.info;
  }

  async function loadEntry(entry: PluginEntry): Promise<PluginInfo> {
    await unloadEntry(entry.name);
    const generation = (generations.get(entry.name) ?? 0) + 1;
    generations.set(entry.name, generation);
    const url = moduleUrl(entry.path, generation);
    const info = create(PluginInfoSchema, {
      name: entry.name,
      entry: entry.name,
      loadedAt: timestampNow(),
    });
    infos.set(entry.name, info);
    try {
      const definition = await importPlugin(url);
      info.name = definition.name;
      info.version = definition.version;
      info.taskTypes = definition.tasks.map((task) => task.type);
      const conflict = conflictOf(definition, entry.name);
      if (conflict) throw new Error(conflict);
      if (definition.onLoad) {
        await withinTimeout("onLoad", () => definition.onLoad?.call(definition)).catch((error) => {
          throw new Error(`onLoad threw: ${reason(error)}`);
        });
      }
      const plugin: LoadedPlugin = { definition, url, info };
      loaded.set(entry.name, plugin);
      for (const task of definition.tasks) {
        byType.set(task.type, { plugin, task });
        types.add(task.request);
        types.add(task.result);
      }
      info.state = PluginState.LOADED;
      options.log(
        `plugin ${definition.name} ${definition.version} loaded from ${entry.name}: ${info.taskTypes.join(", ")}`,
      );
    } catch (error) {
      info.state = PluginState.FAILED;
      info.error = reason(error);
      options.log(`plugin ${entry.name} failed to load: ${info.error}`);
    }
    return info;
  }

  const host: PluginHost = {
    types,
    loadAll() {
      return serially(async () => {
        const seen = new Set<string>();
        for (const entry of findPluginEntries(options.directories)) {
          // An entry name in an earlier directory hides the same name in later ones.
          if (seen.has(entry.name)) continue;
          seen.add(entry.name);
          await loadEntry(entry);
        }
      });
    },
    load(name) {
      return serially(async () => {
        const entry = findPluginEntries(options.directories).find((e) => e.name === name);
        if (entry === undefined) {
          throw new ConnectError(
            `no plugin named ${JSON.stringify(name)} in ${options.directories.join(" or ")}`,
            Code.NotFound,
          );
        }
        const info = await loadEntry(entry);
        if (info.state === PluginState.FAILED) {
          throw new ConnectError(
            `plugin ${name} failed to load: ${info.error}`,
            Code.FailedPrecondition,
          );
        }
        return info;
      });
    },
    unload(name) {
      return serially(async () => {
        const entry = [...loaded].find(([, plugin]) => plugin.definition.name === name)?.[0];
        const info = entry === undefined ? undefined : await unloadEntry(entry);
        if (info === undefined) {
          throw new ConnectError(
            `no loaded plugin is named ${JSON.stringify(name)}`,
            Code.NotFound,
          );
        }
        return info;
      });
    },
    list() {
      return [...infos.values()].sort((a, b) => a.entry.localeCompare(b.entry));
    },
    files() {
      const files = new Set<DescFile>();
      for (const { task } of byType.values()) {
        files.add(task.request.file);
        files.add(task.result.file);
      }
      return [...files];
    },
    tasks() {
      return [...byType.values()];
    },
    taskOf(type) {
      return byType.get(type);
    },
    hookFailed(plugin, hook, error) {
      plugin.info.hookFailures++;
      plugin.info.error = `${hook} threw: ${reason(error)}`;
      options.log(`plugin ${plugin.definition.name}: ${plugin.info.error}`);
    },
    close() {
      return serially(async () => {
        for (const entry of [...loaded.keys()]) await unloadEntry(entry);
      });
    },
  };
  return host;
}
