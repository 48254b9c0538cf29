import {
  KeywordExtractorResultSchema,
  KeywordExtractorTaskSchema,
} from "../../gen/noizylab/plugins/v1/keyword_extractor_pb.js";
import { definePlugin, definePluginTask } from "../../server/plugins/plugin-api.js";
import { checkRange, invalidField } from "../../server/tasks/task-errors.js";
import { languageOf, textLanguage } from "../../server/tasks/text/language.js";
import { sentencesOf } from "../../server/tasks/text/segments.js";
import { keywords } from "./keywords.js";

/** The keyword-extractor task. */
export const keywordExtractorTask = definePluginTask({
  type: "keyword-extractor",
  description:
    "Finds the words a text is about (stopwords of its language left out), with counts and scores that favour words spread over the text.",
  request: KeywordExtractorTaskSchema,
  result: KeywordExtractorResultSchema,
  cost: "heavy",
  validate(input, path) {
    if (input.text.trim() === "") throw invalidField(`${path}.text`, "is required");
    if (input.maxKeywords !== 0) checkRange(`${path}.max_keywords`, input.maxKeywords, 1, 200);
    if (input.minLength !== 0) checkRange(`${path}.min_length`, input.minLength, 1, 50);
    if (input.language !== "" && languageOf(input.language) === undefined) {
      throw invalidField(
        `${path}.language`,
        `${JSON.stringify(input.language)} is not an ISO 639-1 or 639-3 language code`,
      );
    }
  },
  run(input) {
    const { language, locale, stopwords } = textLanguage(input.text, input.language);
    return {
      keywords: keywords(sentencesOf(input.text, locale), stopwords, {
        limit: input.maxKeywords || 10,
        minLength: input.minLength || 2,
        locale,
      }),
      language: language.code,
    };
  },
});

/** The keyword-extractor plugin: the words a text is about, with scores and counts. */
export default definePlugin({
  name: "keyword-extractor",
  version: "1.0.0",
  tasks: [keywordExtractorTask],
});
