import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { TextSummarizerTaskSchema } from "../../gen/noizylab/plugins/v1/text_summarizer_pb.js";
import { testContext } from "../../server/tasks/task-testing.js";
import { textSummarizerTask as task } from "./index.js";

const article = [
  "Solar panels turn sunlight into electricity without moving parts.",
  "The weather was nice on Tuesday.",
  "Modern solar panels convert about a fifth of the sunlight that reaches them into electricity.",
  "My cousin likes cycling.",
  "Cheaper solar panels have made solar electricity the cheapest new power in many countries.",
  "Lunch was late.",
].join(" ");

async function summarize(init: Parameters<typeof create<typeof TextSummarizerTaskSchema>>[1]) {
  const input = create(TextSummarizerTaskSchema, init);
  task.validate?.(input, "input");
  return task.run(input, testContext().context);
}

describe("text-summarizer", () => {
  it("picks the sentences about what the text is about, in the text's order", async () => {
    const result = await summarize({ text: article, length: { case: "sentences", value: 3 } });
    expect(result?.sentences?.map((s) => s.index)).toEqual([0, 2, 4]);
    expect(result?.summary).toMatch(
      /^Solar panels turn sunlight.*cheapest new power in many countries\.$/,
    );
    expect(result?.totalSentences).toBe(6);
    expect(result?.language).toBe("eng");
    expect(Math.max(...(result?.sentences ?? []).map((s) => s.score ?? 0))).toBe(1);
  });

  it("takes a share of the sentences, at least one, and works in other languages", async () => {
    expect(
      (await summarize({ text: article, length: { case: "ratio", value: 0.5 } }))?.sentences,
    ).toHaveLength(3);
    expect(
      (await summarize({ text: article, length: { case: "ratio", value: 0.01 } }))?.sentences,
    ).toHaveLength(1);
    const german = await summarize({
      text: "Die Katze schläft auf dem Sofa. Das Wetter ist heute schön. Die Katze jagt am Abend Mäuse im Garten. Wir essen Brot.",
      length: { case: "sentences", value: 1 },
    });
    expect(german?.language).toBe("deu");
    expect(german?.summary).toMatch(/Katze/);
  });

  it("names a length out of range", () => {
    expect(() =>
      task.validate?.(
        create(TextSummarizerTaskSchema, { text: "x", length: { case: "ratio", value: 1.5 } }),
        "input",
      ),
    ).toThrow("input.ratio: must be above 0 and at most 1, got 1.5");
    expect(() =>
      task.validate?.(
        create(TextSummarizerTaskSchema, { text: "x", length: { case: "sentences", value: 0 } }),
        "input",
      ),
    ).toThrow("input.sentences: must be between 1 and 100, got 0");
  });
});
