import { create } from "@bufbuild/protobuf";
import {
  TextAnalysisResultSchema,
  TextAnalysisTaskSchema,
  TextCountsSchema,
} from "../../gen/noizylab/agent/v1/text_analysis_pb.js";
import { checkRange, invalidField } from "./task-errors.js";
import { defineTask } from "./task-handler.js";
import { keyPhrases } from "./text/key-phrases.js";
import { detectLanguage, languageOf, textLanguage } from "./text/language.js";
import { readability } from "./text/readability.js";
import { segment } from "./text/segments.js";
import { scoreSentiment } from "./text/sentiment.js";

const defaultKeyPhrases = 10;

/**
 * textAnalysisTask measures a text: counts, language, sentiment, readability and key
 * phrases. It runs on the worker pool: a text may be megabytes long.
 */
export const textAnalysisTask = defineTask({
  field: "textAnalysis",
  description:
    "Counts words, sentences and paragraphs, detects the language (46 languages), scores the sentiment (negation and emoji), English readability (Flesch) and the key phrases.",
  requestSchema: TextAnalysisTaskSchema,
  resultSchema: TextAnalysisResultSchema,
  cost: "heavy",
  validate(input, path) {
    if (input.text.trim() === "") throw invalidField(`${path}.text`, "is required");
    if (input.maxKeyPhrases !== 0)
      checkRange(`${path}.max_key_phrases`, input.maxKeyPhrases, 1, 100);
    if (input.language !== "" && languageOf(input.language) === undefined) {
      throw invalidField(
        `${path}.language`,
        `${JSON.stringify(input.language)} is not an ISO 639-1 or 639-3 language code`,
      );
    }
  },
  async run(input, context) {
    const given = input.language === "" ? undefined : languageOf(input.language);
    const { best, alternatives } = given
      ? { best: given, alternatives: [] }
      : detectLanguage(input.text);
    context.progress(25, `language: ${best.name}`);
    const { locale, stopwords, english } = textLanguage(input.text, best.code);
    const { sentences, counts } = segment(input.text, locale);
    context.progress(50, `${counts.words} words`);
    const sentiment = scoreSentiment(input.text, english);
    context.progress(75, "sentiment scored");
    return create(TextAnalysisResultSchema, {
      counts: create(TextCountsSchema, counts),
      language: best,
      alternatives,
      sentiment,
      readability: readability(sentences, english),
      keyPhrases: keyPhrases(
        sentences,
        stopwords,
        input.maxKeyPhrases || defaultKeyPhrases,
        locale,
      ),
    });
  },
});
