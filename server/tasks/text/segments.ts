import type { TextCounts } from "../../../gen/noizylab/agent/v1/text_analysis_pb.js";

/** Segmented is a text cut into sentences of words, with its counts. */
export interface Segmented {
  /** Each sentence's words, as written. */
  readonly sentences: readonly (readonly string[])[];
  readonly counts: Omit<TextCounts, "$typeName" | "$unknown">;
}

const blankLine = /\n[ \t]*\r?\n/;
const space = /^\s+$/u;

/**
 * segment cuts a text by Unicode boundaries (Intl.Segmenter): grapheme clusters, words (by
 * a dictionary in Chinese, Japanese and Thai) and sentences; locale tunes the rules.
 */
export function segment(text: string, locale = "en"): Segmented {
  let characters = 0;
  let spaces = 0;
  for (const { segment: grapheme } of new Intl.Segmenter(locale, {
    granularity: "grapheme",
  }).segment(text)) {
    characters++;
    if (space.test(grapheme)) spaces++;
  }
  const words = new Intl.Segmenter(locale, { granularity: "word" });
  const sentences: string[][] = [];
  for (const { segment: sentence } of new Intl.Segmenter(locale, {
    granularity: "sentence",
  }).segment(text)) {
    const wordsOf: string[] = [];
    for (const part of words.segment(sentence)) if (part.isWordLike) wordsOf.push(part.segment);
    if (wordsOf.length > 0) sentences.push(wordsOf);
  }
  return {
    sentences,
    counts: {
      characters: BigInt(characters),
      charactersWithoutSpaces: BigInt(characters - spaces),
      words: BigInt(sentences.reduce((sum, s) => sum + s.length, 0)),
      sentences: BigInt(sentences.length),
      paragraphs: BigInt(text.split(blankLine).filter((p) => p.trim() !== "").length),
    },
  };
}
