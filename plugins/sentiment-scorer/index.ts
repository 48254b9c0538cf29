import { SentimentLabel } from "../../gen/noizylab/agent/v1/text_analysis_pb.js";
import {
  SentimentScorerResultSchema,
  SentimentScorerTaskSchema,
  Tone,
} from "../../gen/noizylab/plugins/v1/sentiment_scorer_pb.js";
import { definePlugin, definePluginTask } from "../../server/plugins/plugin-api.js";
import { invalidField } from "../../server/tasks/task-errors.js";
import { textLanguage } from "../../server/tasks/text/language.js";
import { sentencesOf } from "../../server/tasks/text/segments.js";
import { scoreSentiment } from "../../server/tasks/text/sentiment.js";

const toneOf: Record<SentimentLabel, Tone> = {
  [SentimentLabel.UNSPECIFIED]: Tone.UNSPECIFIED,
  [SentimentLabel.POSITIVE]: Tone.POSITIVE,
  [SentimentLabel.NEGATIVE]: Tone.NEGATIVE,
  [SentimentLabel.NEUTRAL]: Tone.NEUTRAL,
};

/** The sentiment-scorer task. */
export const sentimentScorerTask = definePluginTask({
  type: "sentiment-scorer",
  description:
    "Scores the tone of each sentence and of the whole text (AFINN words and emoji, negation handled; English word list).",
  request: SentimentScorerTaskSchema,
  result: SentimentScorerResultSchema,
  cost: "heavy",
  validate(input, path) {
    if (input.text.trim() === "") throw invalidField(`${path}.text`, "is required");
  },
  run(input) {
    const { locale, english } = textLanguage(input.text);
    const sentences = sentencesOf(input.text, locale).map(({ text }) => {
      const { score, comparative, label } = scoreSentiment(text, english);
      return { text, score, comparative, tone: toneOf[label] };
    });
    const whole = scoreSentiment(input.text, english);
    const count = (tone: Tone) => sentences.filter((s) => s.tone === tone).length;
    return {
      sentences,
      score: whole.score,
      comparative: whole.comparative,
      tone: toneOf[whole.label],
      positive: count(Tone.POSITIVE),
      negative: count(Tone.NEGATIVE),
      neutral: count(Tone.NEUTRAL),
    };
  },
});

/** The sentiment-scorer plugin: the tone of each sentence, and of the whole text. */
export default definePlugin({
  name: "sentiment-scorer",
  version: "1.0.0",
  tasks: [sentimentScorerTask],
});
