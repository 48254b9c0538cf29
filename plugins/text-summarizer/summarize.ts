import type { SummarySentence } from "../../gen/noizylab/plugins/v1/text_summarizer_pb.js";
import type { Sentence } from "../../server/tasks/text/segments.js";

/** The first sentence often says what a text is about: its score is raised by this share. */
const leadBonus = 0.1;

/**
 * summarize picks the `count` best sentences, in the text's order. A sentence's score is the
 * sum of its words' frequencies in the whole text (stopwords left out, relative to the most
 * frequent word), divided by the square root of its word count so long sentences do not win
 * by length alone; the first sentence gets a lead bonus. Scores are relative to the best.
 */
export function summarize(
  sentences: readonly Sentence[],
  stopwords: ReadonlySet<string>,
  count: number,
  locale: string,
): Omit<SummarySentence, "$typeName">[] {
  const contentWords = sentences.map((sentence) =>
    sentence.words
      .map((word) => word.toLocaleLowerCase(locale))
      .filter((word) => !stopwords.has(word) && !/^\p{N}+$/u.test(word)),
  );
  const frequency = new Map<string, number>();
  for (const words of contentWords) {
    for (const word of words) frequency.set(word, (frequency.get(word) ?? 0) + 1);
  }
  const top = Math.max(1, ...frequency.values());
  const raw = contentWords.map((words, index) => {
    const sum = words.reduce((total, word) => total + (frequency.get(word) ?? 0) / top, 0);
    const score = words.length === 0 ? 0 : sum / Math.sqrt(words.length);
    return index === 0 ? score * (1 + leadBonus) : score;
  });
  const best = Math.max(Number.MIN_VALUE, ...raw);
  return raw
    .map((score, index) => ({ index, score }))
    .sort((a, b) => b.score - a.score || a.index - b.index)
    .slice(0, count)
    .sort((a, b) => a.index - b.index)
    .map(({ index, score }) => ({
      text: sentences[index]?.text ?? "",
      index,
      score: Math.round((score / best) * 1000) / 1000,
    }));
}
