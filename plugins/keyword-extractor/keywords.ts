import type { Keyword } from "../../gen/noizylab/plugins/v1/keyword_extractor_pb.js";
import type { Sentence } from "../../server/tasks/text/segments.js";

const numeric = /^[\p{N}\p{P}]+$/u;
const possessive = /['’]s$/u;

/**
 * keywords counts the words of a text that are not stopwords or numbers, and scores each by
 * its count times (1 + the share of sentences it occurs in): a word spread over the text
 * beats one repeated in a single sentence. Scores are relative to the best keyword.
 */
export function keywords(
  sentences: readonly Sentence[],
  stopwords: ReadonlySet<string>,
  options: { readonly limit: number; readonly minLength: number; readonly locale: string },
): Omit<Keyword, "$typeName">[] {
  const counts = new Map<string, { count: number; sentences: number }>();
  for (const sentence of sentences) {
    const seen = new Set<string>();
    for (const written of sentence.words) {
      const lower = written.toLocaleLowerCase(options.locale);
      const word = options.locale === "en" ? lower.replace(possessive, "") : lower;
      if ([...word].length < options.minLength || stopwords.has(word) || numeric.test(word))
        continue;
      const entry = counts.get(word) ?? { count: 0, sentences: 0 };
      entry.count++;
      if (!seen.has(word)) entry.sentences++;
      seen.add(word);
      counts.set(word, entry);
    }
  }
  const total = Math.max(1, sentences.length);
  const scored = [...counts].map(([word, { count, sentences: spread }]) => ({
    word,
    count,
    weight: count * (1 + spread / total),
  }));
  scored.sort((a, b) => b.weight - a.weight || a.word.localeCompare(b.word));
  const best = scored[0]?.weight ?? 1;
  return scored.slice(0, options.limit).map(({ word, count, weight }) => ({
    word,
    count,
    score: Math.round((weight / best) * 1000) / 1000,
  }));
}
