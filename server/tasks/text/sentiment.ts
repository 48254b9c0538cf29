import { create } from "@bufbuild/protobuf";
import SentimentAnalyzer from "sentiment";
import {
  type Sentiment,
  SentimentLabel,
  SentimentSchema,
} from "../../../gen/noizylab/agent/v1/text_analysis_pb.js";

const analyzer = new SentimentAnalyzer();
/** Per word, the score beyond which a text counts as positive or negative. */
const threshold = 0.05;

/**
 * scoreSentiment scores a text's tone with the AFINN-165 word list and the Emoji Sentiment
 * Ranking (the `sentiment` package): a negation before a word turns its score around. The
 * list is English; english says whether the text is.
 */
export function scoreSentiment(text: string, english: boolean): Sentiment {
  const { score, comparative, positive, negative } = analyzer.analyze(text);
  const label =
    comparative > threshold
      ? SentimentLabel.POSITIVE
      : comparative < -threshold
        ? SentimentLabel.NEGATIVE
        : SentimentLabel.NEUTRAL;
  return create(SentimentSchema, {
    score,
    comparative,
    label,
    positive: [...new Set(positive)],
    negative: [...new Set(negative)],
    lexiconFitsLanguage: english,
  });
}
