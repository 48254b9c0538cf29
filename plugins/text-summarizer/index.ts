import {
  TextSummarizerResultSchema,
  TextSummarizerTaskSchema,
} from "../../gen/noizylab/plugins/v1/text_summarizer_pb.js";
import { definePlugin, definePluginTask } from "../../server/plugins/plugin-api.js";
import { checkRange, invalidField } from "../../server/tasks/task-errors.js";
import { textLanguage } from "../../server/tasks/text/language.js";
import { sentencesOf } from "../../server/tasks/text/segments.js";
import { summarize } from "./summarize.js";

const defaultSentences = 3;

/** The text-summarizer task. */
export const textSummarizerTask = definePluginTask({
  type: "text-summarizer",
  description:
    "Summarizes a text by picking its most telling sentences (word frequency, stopwords left out): N sentences or a share of them.",
  request: TextSummarizerTaskSchema,
  result: TextSummarizerResultSchema,
  cost: "heavy",
  validate(input, path) {
    if (input.text.trim() === "") throw invalidField(`${path}.text`, "is required");
    if (input.length.case === "sentences") {
      checkRange(`${path}.sentences`, input.length.value, 1, 100);
    }
    if (input.length.case === "ratio" && !(input.length.value > 0 && input.length.value <= 1)) {
      throw invalidField(
        `${path}.ratio`,
        `must be above 0 and at most 1, got ${input.length.value}`,
      );
    }
  },
  run(input, context) {
    const { language, locale, stopwords } = textLanguage(input.text);
    const sentences = sentencesOf(input.text, locale);
    context.progress(50, `${sentences.length} sentences`);
    const count =
      input.length.case === "ratio"
        ? Math.max(1, Math.round(sentences.length * input.length.value))
        : input.length.case === "sentences"
          ? input.length.value
          : defaultSentences;
    const chosen = summarize(sentences, stopwords, count, locale);
    return {
      summary: chosen.map((sentence) => sentence.text).join(" "),
      sentences: chosen,
      totalSentences: sentences.length,
      language: language.code,
    };
  },
});

/** The text-summarizer plugin: an extractive summary of N sentences or a share of them. */
export default definePlugin({
  name: "text-summarizer",
  version: "1.0.0",
  tasks: [textSummarizerTask],
});
