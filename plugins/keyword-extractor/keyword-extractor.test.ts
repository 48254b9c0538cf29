import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { KeywordExtractorTaskSchema } from "../../gen/noizylab/plugins/v1/keyword_extractor_pb.js";
import { testContext } from "../../server/tasks/task-testing.js";
import { keywordExtractorTask as task } from "./index.js";

async function extract(init: Parameters<typeof create<typeof KeywordExtractorTaskSchema>>[1]) {
  const input = create(KeywordExtractorTaskSchema, init);
  task.validate?.(input, "input");
  return task.run(input, testContext().context);
}

describe("keyword-extractor", () => {
  it("finds the words a text is about, with counts, stopwords left out, spread favoured", async () => {
    const result = await extract({
      text: "The database stores every task. A task has a state. The database's index makes every task fast. Lookup lookup lookup.",
      maxKeywords: 3,
    });
    expect(result?.language).toBe("eng");
    expect(result?.keywords).toEqual([
      { word: "task", count: 3, score: 1 },
      // As often, but in one sentence of four: 3 × 1.25 against task's 3 × 1.75.
      { word: "lookup", count: 3, score: expect.closeTo(0.714, 3) },
      { word: "database", count: 2, score: expect.closeTo(0.571, 3) },
    ]);
  });

  it("uses the stopwords of the text's language, or the one given", async () => {
    const spanish = await extract({
      text: "El servidor procesa las tareas. Las tareas del servidor terminan pronto. El servidor es rápido.",
    });
    expect(spanish?.language).toBe("spa");
    expect(spanish?.keywords?.[0]?.word).toBe("servidor");
    expect(spanish?.keywords?.some((k) => k.word === "las" || k.word === "el")).toBe(false);
    const given = await extract({ text: "Der Hund und der Hund.", language: "de", minLength: 3 });
    expect(given?.language).toBe("deu");
    expect(given?.keywords?.map((k) => k.word)).toEqual(["hund"]);
  });

  it("names a language code that is none", () => {
    expect(() =>
      task.validate?.(
        create(KeywordExtractorTaskSchema, { text: "x", language: "klingon" }),
        "input",
      ),
    ).toThrow('input.language: "klingon" is not an ISO 639-1 or 639-3 language code');
  });
});
