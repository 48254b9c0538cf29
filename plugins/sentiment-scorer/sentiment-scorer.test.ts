import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  SentimentScorerTaskSchema,
  Tone,
} from "../../gen/noizylab/plugins/v1/sentiment_scorer_pb.js";
import { testContext } from "../../server/tasks/task-testing.js";
import { sentimentScorerTask as task } from "./index.js";

describe("sentiment-scorer", () => {
  it("scores each sentence and the whole, negation and emoji included", async () => {
    const text =
      "I love this library. The docs are not good. It crashed twice 😡. The API is fine.";
    const result = await task.run(
      create(SentimentScorerTaskSchema, { text }),
      testContext().context,
    );
    expect(result?.sentences?.map((s) => [s.text, Tone[s.tone ?? 0]])).toEqual([
      ["I love this library.", "POSITIVE"],
      ["The docs are not good.", "NEGATIVE"],
      ["It crashed twice 😡.", "NEGATIVE"],
      ["The API is fine.", "POSITIVE"],
    ]);
    expect(result).toMatchObject({ positive: 2, negative: 2, neutral: 0 });
    expect(result?.score).toBe(
      (result?.sentences ?? []).reduce((sum, sentence) => sum + (sentence.score ?? 0), 0),
    );
  });
});
