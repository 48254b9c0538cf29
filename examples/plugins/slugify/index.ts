// An example plugin: one task type, "slugify", with its own Protobuf messages, a check of
// its input, and hooks. docs/plugins.md walks through it.
import { Code, ConnectError } from "@connectrpc/connect";
import type { PluginDefinition, PluginTaskDefinition } from "cloudagent/plugin";
import { SlugifyResultSchema, SlugifyTaskSchema } from "./gen/example/slugify/v1/slugify_pb.js";

/** slugify turns a title into lower-case ASCII words joined by the separator. */
function slugify(title: string, separator: string, maxLength: number): string {
  const words = title
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  let slug = "";
  for (const word of words) {
    const next = slug === "" ? word : `${slug}${separator}${word}`;
    if (maxLength > 0 && next.length > maxLength) return slug || word.slice(0, maxLength);
    slug = next;
  }
  return slug;
}

// Plugin state lives in the module: it is imported anew when the plugin is loaded again.
let slugsMade = 0;

const slugifyTask: PluginTaskDefinition<typeof SlugifyTaskSchema, typeof SlugifyResultSchema> = {
  type: "slugify",
  description: "Turns titles into URL slugs: lower-case ASCII words, accents dropped.",
  request: SlugifyTaskSchema,
  result: SlugifyResultSchema,
  // One pass over each title, with patterns that cannot backtrack: work linear in the input,
  // so small inputs run on the event loop (a plugin is "heavy", on the worker threads, unless
  // it says otherwise).
  cost: "linear",
  validate(input, path) {
    if (input.titles.length === 0 || input.titles.length > 1_000) {
      throw new ConnectError(
        `${path}.titles: give 1 to 1,000 titles, got ${input.titles.length}`,
        Code.InvalidArgument,
      );
    }
  },
  run(input, context) {
    const separator = input.separator || "-";
    const slugs = input.titles.map((title) => slugify(title, separator, input.maxLength));
    context.progress(100, `${slugs.length} slugs`);
    return { slugs };
  },
};

export default {
  name: "slugify",
  version: "1.0.0",
  tasks: [slugifyTask],
  onLoad() {
    slugsMade = 0;
  },
  afterTask({ result }) {
    slugsMade += (result as { slugs?: string[] }).slugs?.length ?? 0;
  },
  onUnload() {
    console.error(`slugify: made ${slugsMade} slugs`);
  },
} satisfies PluginDefinition;
