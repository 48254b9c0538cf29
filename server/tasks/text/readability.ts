import { create } from "@bufbuild/protobuf";
import { syllable } from "syllable";
import {
  type Readability,
  ReadabilitySchema,
} from "../../../gen/noizylab/agent/v1/text_analysis_pb.js";

const letters = /\p{L}/u;

/**
 * readability scores an English text with the Flesch reading ease
 * (206.835 - 1.015 words/sentence - 84.6 syllables/word) and the Flesch-Kincaid grade
 * (0.39 words/sentence + 11.8 syllables/word - 15.59). The formulas and the syllable
 * counter are made for English: for other languages the scores do not apply.
 */
export function readability(
  sentences: readonly (readonly string[])[],
  english: boolean,
): Readability {
  const words = sentences.flat().filter((word) => letters.test(word));
  if (!english || words.length === 0) return create(ReadabilitySchema, { applies: false });
  // Words repeat: each distinct one is counted once.
  const known = new Map<string, number>();
  let syllables = 0;
  for (const word of words) {
    let count = known.get(word);
    if (count === undefined) {
      count = Math.max(1, syllable(word));
      known.set(word, count);
    }
    syllables += count;
  }
  const wordsPerSentence = words.length / sentences.length;
  const syllablesPerWord = syllables / words.length;
  const round = (value: number) => Math.round(value * 100) / 100;
  return create(ReadabilitySchema, {
    applies: true,
    fleschReadingEase: round(206.835 - 1.015 * wordsPerSentence - 84.6 * syllablesPerWord),
    fleschKincaidGrade: round(0.39 * wordsPerSentence + 11.8 * syllablesPerWord - 15.59),
    wordsPerSentence: round(wordsPerSentence),
    syllablesPerWord: round(syllablesPerWord),
  });
}
