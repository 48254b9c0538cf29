import { readdirSync, statSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { PluginDefinition } from "./plugin-api.js";

/** PluginEntry is a plugin found in a plugin directory: a module file or a folder with one. */
export interface PluginEntry {
  /** Its file name without the extension, or its folder name. */
  readonly name: string;
  /** The module to import. */
  readonly path: string;
}

const moduleExtensions = [".ts", ".mts", ".js", ".mjs"];
const indexFiles = moduleExtensions.map((extension) => `index${extension}`);
const notPlugins = /\.(d|test|spec)\.[mc]?[tj]s$/;

function isFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
}

/** entryAt is the plugin a directory entry holds, if any. */
function entryAt(directory: string, name: string): PluginEntry | undefined {
  const path = join(directory, name);
  const stats = statSync(path, { throwIfNoEntry: false });
  if (stats?.isDirectory()) {
    const index = indexFiles.map((file) => join(path, file)).find(isFile);
    return index === undefined ? undefined : { name, path: index };
  }
  if (stats?.isFile() && moduleExtensions.includes(extname(name)) && !notPlugins.test(name)) {
    return { name: basename(name, extname(name)), path };
  }
  return undefined;
}

/** findPluginEntries lists the plugins in the directories, in order; a missing one has none. */
export function findPluginEntries(directories: readonly string[]): PluginEntry[] {
  return directories.flatMap((directory) => {
    const names = statSync(directory, { throwIfNoEntry: false })?.isDirectory()
      ? readdirSync(directory).sort()
      : [];
    return names.flatMap((name) => entryAt(directory, name) ?? []);
  });
}

/** moduleUrl is the URL a plugin is imported by; each later generation is a fresh module. */
export function moduleUrl(path: string, generation: number): string {
  const url = pathToFileURL(path).href;
  return generation > 1 ? `${url}?generation=${generation}` : url;
}

const pluginName = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const taskType = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const hooks = ["onLoad", "onUnload", "beforeTask", "afterTask", "onError"] as const;

/**
 * checkDefinition returns a module's default export as a plugin definition, or throws an
 * Error saying what about it is wrong.
 */
export function checkDefinition(exported: unknown): PluginDefinition {
  if (typeof exported !== "object" || exported === null) {
    throw new Error("the module's default export is not a plugin definition object");
  }
  const plugin = exported as Record<string, unknown>;
  if (typeof plugin.name !== "string" || !pluginName.test(plugin.name)) {
    throw new Error(
      `name ${JSON.stringify(plugin.name)} must be lower case letters, digits, "-", "_" and "."`,
    );
  }
  if (typeof plugin.version !== "string" || plugin.version === "") {
    throw new Error("version is required");
  }
  for (const hook of hooks) {
    if (plugin[hook] !== undefined && typeof plugin[hook] !== "function") {
      throw new Error(`${hook} must be a function`);
    }
  }
  if (!Array.isArray(plugin.tasks) || plugin.tasks.length === 0) {
    throw new Error("tasks must list one or more tasks");
  }
  plugin.tasks.forEach((task: Record<string, unknown>, index) => {
    const at = `tasks[${index}]`;
    if (typeof task?.type !== "string" || !taskType.test(task.type)) {
      throw new Error(
        `${at}.type ${JSON.stringify(task?.type)} must be kebab case, like "csv-parser"`,
      );
    }
    for (const field of ["request", "result"]) {
      const schema = task[field] as { kind?: unknown } | undefined;
      if (schema?.kind !== "message") {
        throw new Error(`${at}.${field} must be a generated message schema (a DescMessage)`);
      }
    }
    if (typeof task.run !== "function") throw new Error(`${at}.run must be a function`);
    if (task.validate !== undefined && typeof task.validate !== "function") {
      throw new Error(`${at}.validate must be a function`);
    }
    if (typeof task.description !== "string") throw new Error(`${at}.description is required`);
  });
  const types = plugin.tasks.map((task: { type: string }) => task.type);
  const repeated = types.find((type, index) => types.indexOf(type) !== index);
  if (repeated !== undefined) throw new Error(`task type ${repeated} is declared twice`);
  return plugin as unknown as PluginDefinition;
}

/** importPlugin imports a plugin module and checks its definition; it throws what went wrong. */
export async function importPlugin(url: string): Promise<PluginDefinition> {
  const module = (await import(url)) as { default?: unknown };
  return checkDefinition(module.default);
}
