import { createRequire } from "node:module";
import { create } from "@bufbuild/protobuf";
import { francAll } from "franc";
import { iso6393 } from "iso-639-3";
import { type Language, LanguageSchema } from "../../../gen/noizylab/agent/v1/text_analysis_pb.js";

/** stopwords-iso: stopword lists by ISO 639-1 code (a CommonJS JSON module). */
export const stopwordLists = createRequire(import.meta.url)("stopwords-iso") as Record<
  string,
  string[]
>;

// franc names some languages by an individual code where ISO 639-1 has only the
// macrolanguage's: Mandarin for Chinese, Standard Arabic for Arabic, and so on.
const macrolanguages: Record<string, string> = {
  cmn: "zh",
  arb: "ar",
  pes: "fa",
  zlm: "ms",
  nob: "no",
  swh: "sw",
  ekk: "et",
  lvs: "lv",
  kmr: "ku",
  ydd: "yi",
  uzn: "uz",
  azj: "az",
  plt: "mg",
};

const byIso6393 = new Map(iso6393.map((language) => [language.iso6393, language]));
const byIso6391 = new Map(
  iso6393.filter((l) => l.iso6391).map((language) => [language.iso6391, language]),
);

function iso6391Of(code: string): string {
  return macrolanguages[code] ?? byIso6393.get(code)?.iso6391 ?? "";
}

/**
 * detectableLanguages are the languages detection chooses among (as franc names them): 46 widely written ones, each
 * with a stopword list for its key phrases. Leaving out dialects and close minor languages
 * keeps an English text from coming back as Scots, or a Portuguese one as Galician.
 */
export const detectableLanguages = [
  "eng spa fra deu ita por nld cat eus rus ukr bul pol ces slk slv hrv ron hun fin swe dan",
  "nob ekk lvs lit ell tur arb heb pes hin ben urd mar guj tha vie ind zlm tgl swh jpn",
  "cmn kor hye",
]
  .join(" ")
  .split(" ");

/** describe names a language by its ISO 639-3 code. */
function describe(code: string, confidence: number): Language {
  return create(LanguageSchema, {
    code,
    iso6391: iso6391Of(code),
    name: byIso6393.get(code)?.name ?? (code === "und" ? "Undetermined" : code),
    confidence,
  });
}

/**
 * languageOf reads a language code given by the caller, ISO 639-1 or 639-3; undefined when it
 * names no language.
 */
export function languageOf(code: string): Language | undefined {
  const lower = code.toLowerCase();
  const language =
    lower.length === 2
      ? byIso6391.get(lower)
      : byIso6393.has(lower)
        ? byIso6393.get(lower)
        : undefined;
  return language && describe(language.iso6393, 1);
}

// How sharply franc's scores (1 for the best, less for the others) become probabilities:
// calibrated so that a clear paragraph scores above 0.95 and Spanish against Portuguese
// about a half each.
const sharpness = 40;

/**
 * detectLanguage guesses a text's language from its character trigrams (franc). The
 * confidence is the guess's share of a softmax over the candidates' scores: near 1 when no
 * other language comes close, about a half between two close ones (Spanish and Galician).
 */
export function detectLanguage(text: string): { best: Language; alternatives: Language[] } {
  const scores = francAll(text, { only: detectableLanguages, minLength: 10 });
  if (scores[0]?.[0] === "und") return { best: describe("und", 0), alternatives: [] };
  const weights = scores.map(([code, score]) => [code, Math.exp(sharpness * (score - 1))] as const);
  const total = weights.reduce((sum, [, weight]) => sum + weight, 0);
  const [best, ...rest] = weights.map(([code, weight]) => describe(code, weight / total));
  return { best: best ?? describe("und", 0), alternatives: rest.slice(0, 3) };
}

/** TextLanguage is a text's language with what the text tasks need of it. */
export interface TextLanguage {
  readonly language: Language;
  /** The locale to cut and lower-case the text by ("en" when the language has no 639-1 code). */
  readonly locale: string;
  /** Its stopwords, left out of key phrases and keywords; none for an unknown language. */
  readonly stopwords: ReadonlySet<string>;
  /** Whether it is English: the sentiment word list and readability formulas are. */
  readonly english: boolean;
}

/** textLanguage is the language given by code, or else detected from the text. */
export function textLanguage(text: string, code = ""): TextLanguage {
  const language = (code === "" ? undefined : languageOf(code)) ?? detectLanguage(text).best;
  return {
    language,
    locale: language.iso6391 || "en",
    stopwords: new Set(stopwordLists[language.iso6391] ?? []),
    english: language.code === "eng",
  };
}
