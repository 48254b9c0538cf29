import type { TextCounts } from "../../../gen/noizylab/agent/v1/text_analysis_pb.js";

/** Segmented is a text cut into sentences of words, with its counts. */
export interface Segmented {
  /** Each sentence's words, as written. */
  readonly sentences: readonly (readonly string[])[];
  readonly counts: Omit<TextCounts, "$typeName" | "$unknown">;
}

const blankLine = /\n[ \t]*\r?\n/;
/**
 * A grapheme cluster, as Unicode's rules make one of the text people write: CR LF, a pair of
 * regional indicators (a flag), or a character with its combining marks, emoji modifiers,
 * variation selectors and zero-width-joined characters. A regular expression counts them
 * far faster than Intl.Segmenter.
 */
const grapheme =
  /\r\n|\p{RI}\p{RI}|[\s\S](?:\p{M}|\p{Emoji_Modifier}|[\uFE0E\uFE0F]|\u200D[\s\S])*/gu;
const spaceChar = /\s/gu;

/** The longest piece handed to Intl.Segmenter at once (see pieces). */
const pieceLength = 2_048;
const sentenceEnd = /[.!?。！？]\s|\n/gu;
const highSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/**
 * pieces cuts a text into pieces of at most pieceLength code units, at sentence ends where
 * it can, else at a space. Intl.Segmenter takes time quadratic in the length of what it is
 * given (V8 in Node 20), so it must only ever see short pieces: a megabyte text then takes
 * milliseconds, not hours.
 */
function* pieces(text: string): Generator<string> {
  let start = 0;
  while (text.length - start > pieceLength) {
    const window = text.slice(start, start + pieceLength);
    let cut = 0;
    for (const match of window.matchAll(sentenceEnd)) cut = match.index + match[0].length;
    if (cut === 0) cut = window.lastIndexOf(" ") + 1;
    if (cut === 0)
      cut = highSurrogate(window.charCodeAt(pieceLength - 1)) ? pieceLength - 1 : pieceLength;
    yield text.slice(start, start + cut);
    start += cut;
  }
  yield text.slice(start);
}

/** Sentence is a sentence as written, with its words. */
export interface Sentence {
  readonly text: string;
  readonly words: readonly string[];
}

/**
 * sentencesOf cuts a text into its sentences by Unicode boundaries (Intl.Segmenter), each with
 * its words (by a dictionary in Chinese, Japanese and Thai); locale tunes the rules. Pieces
 * without a word (punctuation, space) are left out.
 */
export function sentencesOf(text: string, locale = "en"): Sentence[] {
  const words = new Intl.Segmenter(locale, { granularity: "word" });
  const sentenceSegmenter = new Intl.Segmenter(locale, { granularity: "sentence" });
  const sentences: Sentence[] = [];
  for (const piece of pieces(text)) {
    for (const { segment: sentence } of sentenceSegmenter.segment(piece)) {
      const wordsOf: string[] = [];
      for (const part of words.segment(sentence)) if (part.isWordLike) wordsOf.push(part.segment);
      if (wordsOf.length > 0) sentences.push({ text: sentence.trim(), words: wordsOf });
    }
  }
  return sentences;
}

/**
 * segment cuts a text by Unicode boundaries: grapheme clusters, words and sentences (see
 * sentencesOf), and counts them.
 */
export function segment(text: string, locale = "en"): Segmented {
  let characters = 0;
  for (const _ of text.matchAll(grapheme)) characters++;
  let spaces = 0;
  for (const _ of text.matchAll(spaceChar)) spaces++;
  const sentences = sentencesOf(text, locale).map((sentence) => sentence.words);
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
