import { ArrayStrategy } from "../../gen/noizylab/plugins/v1/json_merger_pb.js";

type Json = null | boolean | number | string | Json[] | JsonObject;
/** JsonObject has no prototype: no key of it can reach Object.prototype. */
interface JsonObject {
  [key: string]: Json;
}

/** Keys that could pollute a JavaScript program's objects once merged into them. */
const dangerous = new Set(["__proto__", "constructor", "prototype"]);

const pointer = (path: string, key: string | number) =>
  `${path}/${String(key).replaceAll("~", "~0").replaceAll("/", "~1")}`;

const isObject = (value: Json): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** MergeReport is what a merge left out or replaced. */
export interface MergeReport {
  readonly droppedKeys: string[];
  readonly replaced: string[];
}

/**
 * clean copies a parsed document into prototype-less objects, leaving out dangerous keys
 * (reported as JSON Pointers from `path`).
 */
export function clean(value: Json, path: string, report: MergeReport): Json {
  if (Array.isArray(value)) return value.map((item, i) => clean(item, pointer(path, i), report));
  if (!isObject(value)) return value;
  const copy: JsonObject = Object.create(null);
  for (const key of Object.keys(value)) {
    if (dangerous.has(key)) report.droppedKeys.push(pointer(path, key));
    else copy[key] = clean(value[key] as Json, pointer(path, key), report);
  }
  return copy;
}

/**
 * canonical writes a cleaned value as JSON text with every object's keys sorted: two values
 * are equal as JSON values exactly when their canonical texts are, so a union compares each
 * item once, by hash, instead of each with every other.
 */
export function canonical(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (!isObject(value)) return JSON.stringify(value);
  const members = Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonical(value[key] as Json)}`);
  return `{${members.join(",")}}`;
}

function mergeArrays(
  base: Json[],
  next: Json[],
  strategy: ArrayStrategy,
  path: string,
  report: MergeReport,
): Json[] {
  switch (strategy) {
    case ArrayStrategy.CONCAT:
      return [...base, ...next];
    case ArrayStrategy.UNION: {
      const union = [...base];
      const seen = new Set(base.map(canonical));
      for (const item of next) {
        const key = canonical(item);
        if (seen.has(key)) continue;
        seen.add(key);
        union.push(item);
      }
      return union;
    }
    case ArrayStrategy.BY_INDEX:
      return Array.from({ length: Math.max(base.length, next.length) }, (_, i) =>
        i >= next.length
          ? (base[i] as Json)
          : i >= base.length
            ? (next[i] as Json)
            : merge(base[i] as Json, next[i] as Json, strategy, pointer(path, i), report),
      );
    default:
      return next;
  }
}

/**
 * merge deep-merges next into base, both cleaned: objects key by key, arrays by the strategy,
 * anything else replaced by next (reported when the kind of value changes).
 */
export function merge(
  base: Json,
  next: Json,
  strategy: ArrayStrategy,
  path: string,
  report: MergeReport,
): Json {
  if (isObject(base) && isObject(next)) {
    const merged: JsonObject = Object.create(null);
    for (const key of Object.keys(base)) merged[key] = base[key] as Json;
    for (const key of Object.keys(next)) {
      merged[key] =
        key in base
          ? merge(base[key] as Json, next[key] as Json, strategy, pointer(path, key), report)
          : (next[key] as Json);
    }
    return merged;
  }
  if (Array.isArray(base) && Array.isArray(next))
    return mergeArrays(base, next, strategy, path, report);
  const kind = (value: Json) =>
    value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
  if (kind(base) !== kind(next) && base !== null && next !== null) report.replaced.push(path);
  return next;
}

/** mergeDocuments merges parsed JSON documents left to right. */
export function mergeDocuments(documents: readonly Json[], strategy: ArrayStrategy) {
  const report: MergeReport = { droppedKeys: [], replaced: [] };
  const cleaned = documents.map((document, i) => clean(document, `/${i}`, report));
  const merged = cleaned
    .slice(1)
    .reduce<Json>((base, next) => merge(base, next, strategy, "", report), cleaned[0] ?? null);
  return { merged, ...report };
}

export type { Json };
