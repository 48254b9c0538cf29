import { create } from "@bufbuild/protobuf";
import {
  type KeyPhrase,
  KeyPhraseSchema,
} from "../../../gen/noizylab/agent/v1/text_analysis_pb.js";

const possessive = /['’]s$/u;
const digitsOnly = /^[\p{N}\p{P}]+$/u;
const ideographic = /\p{Script=Han}|\p{Script=Hiragana}|\p{Script=Katakana}|\p{Script=Hangul}/u;

/** telling says whether a word may be a key phrase: no stopword, number or lone letter. */
function telling(word: string, stopwords: ReadonlySet<string>): boolean {
  if (stopwords.has(word) || digitsOnly.test(word)) return false;
  // One Latin or Cyrillic letter says nothing; one Chinese character may be a word.
  return word.length > 1 || ideographic.test(word);
}

/**
 * keyPhrases finds the words and pairs of adjacent words a text uses most, stopwords left
 * out. A pair counts when it occurs at least twice; it weighs double, being more specific.
 * Scores are relative to the top phrase.
 */
export function keyPhrases(
  sentences: readonly (readonly string[])[],
  stopwords: ReadonlySet<string>,
  limit: number,
  locale: string,
): KeyPhrase[] {
  const counts = new Map<string, { words: number; count: number }>();
  const add = (phrase: string, words: number) => {
    const entry = counts.get(phrase) ?? { words, count: 0 };
    entry.count++;
    counts.set(phrase, entry);
  };
  for (const sentence of sentences) {
    let previous: string | undefined;
    for (const written of sentence) {
      // "library's" is "library" in English.
      const lower = written.toLocaleLowerCase(locale);
      const word = locale === "en" ? lower.replace(possessive, "") : lower;
      if (!telling(word, stopwords)) {
        previous = undefined;
        continue;
      }
      add(word, 1);
      if (previous !== undefined) {
        const joiner = ideographic.test(word) ? "" : " ";
        add(`${previous}${joiner}${word}`, 2);
      }
      previous = word;
    }
  }
  const weighted = [...counts]
    .filter(([, { words, count }]) => words === 1 || count >= 2)
    .map(([phrase, { words, count }]) => ({ phrase, words, count, weight: count * words }))
    .sort((a, b) => b.weight - a.weight || b.words - a.words || a.phrase.localeCompare(b.phrase));
  const top = weighted[0]?.weight ?? 1;
  return weighted.slice(0, limit).map(({ phrase, words, count, weight }) =>
    create(KeyPhraseSchema, {
      phrase,
      words,
      count,
      score: Math.round((weight / top) * 1000) / 1000,
    }),
  );
}
