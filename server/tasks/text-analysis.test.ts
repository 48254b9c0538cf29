import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  SentimentLabel,
  TextAnalysisTaskSchema,
} from "../../gen/noizylab/agent/v1/text_analysis_pb.js";
import { testContext } from "./task-testing.js";
import { detectableLanguages, languageOf, stopwordLists } from "./text/language.js";
import { textAnalysisTask } from "./text-analysis.js";

const analyze = (text: string, extra: { language?: string; maxKeyPhrases?: number } = {}) =>
  textAnalysisTask.run(create(TextAnalysisTaskSchema, { text, ...extra }), testContext().context);

// The same kind of paragraph, about a shop and its deliveries, in seventeen languages.
const paragraphs: Record<string, string> = {
  eng: "Our shop delivers fresh bread every morning. The bakers start work before sunrise, and the bread reaches your door while it is still warm.",
  spa: "Nuestra tienda entrega pan fresco cada mañana. Los panaderos empiezan a trabajar antes del amanecer y el pan llega a tu puerta todavía caliente.",
  fra: "Notre boutique livre du pain frais chaque matin. Les boulangers commencent avant le lever du soleil, et le pain arrive chez vous encore chaud.",
  deu: "Unser Laden liefert jeden Morgen frisches Brot. Die Bäcker beginnen vor Sonnenaufgang, und das Brot kommt noch warm bei Ihnen an.",
  ita: "Il nostro negozio consegna pane fresco ogni mattina. I fornai iniziano a lavorare prima dell'alba e il pane arriva alla tua porta ancora caldo.",
  por: "A nossa loja entrega pão fresco todas as manhãs. Os padeiros começam a trabalhar antes do nascer do sol e o pão chega à sua porta ainda quente.",
  nld: "Onze winkel bezorgt elke ochtend vers brood. De bakkers beginnen voor zonsopgang en het brood komt nog warm bij je aan de deur.",
  rus: "Наш магазин каждое утро доставляет свежий хлеб. Пекари начинают работу до рассвета, и хлеб приходит к вашей двери ещё тёплым.",
  pol: "Nasz sklep codziennie rano dostarcza świeży chleb. Piekarze zaczynają pracę przed wschodem słońca, a chleb trafia pod twoje drzwi jeszcze ciepły.",
  tur: "Dükkanımız her sabah taze ekmek teslim eder. Fırıncılar güneş doğmadan işe başlar ve ekmek kapınıza hâlâ sıcakken ulaşır.",
  swe: "Vår butik levererar färskt bröd varje morgon. Bagarna börjar arbeta före soluppgången och brödet kommer fram till din dörr medan det fortfarande är varmt.",
  jpn: "私たちの店は毎朝焼きたてのパンをお届けします。パン職人は日の出前に仕事を始め、パンはまだ温かいうちにお客様の家に届きます。",
  cmn: "我们的商店每天早上配送新鲜的面包。面包师在日出之前就开始工作，面包送到您家门口时还是热的。",
  arb: "يقوم متجرنا بتوصيل الخبز الطازج كل صباح. يبدأ الخبازون العمل قبل شروق الشمس، ويصل الخبز إلى بابك وهو لا يزال دافئاً.",
  hin: "हमारी दुकान हर सुबह ताज़ी रोटी पहुँचाती है। बेकर सूरज निकलने से पहले काम शुरू करते हैं और रोटी आपके दरवाज़े तक गरम पहुँचती है।",
  kor: "저희 가게는 매일 아침 신선한 빵을 배달합니다. 제빵사들은 해가 뜨기 전에 일을 시작하고, 빵은 아직 따뜻할 때 문 앞에 도착합니다.",
  ell: "Το κατάστημά μας παραδίδει φρέσκο ψωμί κάθε πρωί. Οι αρτοποιοί ξεκινούν πριν από την ανατολή του ηλίου και το ψωμί φτάνει ακόμα ζεστό.",
};

describe("text-analysis task", () => {
  it.each(Object.entries(paragraphs))("detects %s", async (code, text) => {
    const result = await analyze(text);
    expect(result.language?.code).toBe(code);
    expect(result.language?.confidence).toBeGreaterThan(0.5);
    expect(result.counts?.sentences).toBe(2n);
    expect(result.counts?.words).toBeGreaterThan(5n);
  });

  it("chooses among 46 languages, each with the stopwords its key phrases leave out", () => {
    expect(detectableLanguages).toHaveLength(46);
    for (const code of detectableLanguages) {
      const language = languageOf(code);
      expect(language?.name, code).not.toBe(code);
      expect(stopwordLists[language?.iso6391 ?? ""], code).toBeDefined();
    }
  });

  it("counts characters, words, sentences and paragraphs by Unicode rules", async () => {
    const result = await analyze("Hello, world! How are you?\n\nFine. 👍🏽 Thanks.\n   \nBye");
    expect(result.counts).toMatchObject({
      words: 8n,
      sentences: 5n,
      paragraphs: 3n,
    });
    // A family joined by zero-width joiners, a flag and an accent written as a combining
    // mark are one character each, as people see them.
    const clusters = await analyze("👨‍👩‍👧 🇫🇷 e\u0301");
    expect(clusters.counts?.characters).toBe(5n);
    expect(clusters.counts?.charactersWithoutSpaces).toBe(3n);
    // 👍🏽 (thumb and skin tone) is one character as people see it.
    expect(result.counts?.characters).toBe(
      BigInt([..."Hello, world! How are you?\n\nFine. x Thanks.\n   \nBye"].length),
    );
  });

  it("scores sentiment with negation and emoji", async () => {
    const happy = await analyze("I love this bakery. The croissants are excellent 😍");
    expect(happy.sentiment?.label).toBe(SentimentLabel.POSITIVE);
    expect(happy.sentiment?.positive).toEqual(expect.arrayContaining(["love", "excellent", "😍"]));
    const negated = await analyze("The bread was not good. It was not fresh at all.");
    expect(negated.sentiment?.label).toBe(SentimentLabel.NEGATIVE);
    expect(negated.sentiment?.negative).toContain("good");
    const neutral = await analyze("The shop opens at eight and closes at six on weekdays.");
    expect(neutral.sentiment?.label).toBe(SentimentLabel.NEUTRAL);
    expect(happy.sentiment?.lexiconFitsLanguage).toBe(true);
    const french = await analyze(paragraphs.fra as string);
    expect(french.sentiment?.lexiconFitsLanguage).toBe(false);
  });

  it("scores English readability with Flesch, and marks it as not applying elsewhere", async () => {
    const simple = await analyze(
      "The cat sat on the mat. The dog ran to the cat. They were friends.",
    );
    expect(simple.readability?.applies).toBe(true);
    expect(simple.readability?.fleschReadingEase).toBeGreaterThan(90);
    const dense = await analyze(
      "Notwithstanding considerable organizational complexity, interdepartmental communication substantially facilitated comprehensive implementation of the institutional modernization initiative.",
    );
    expect(dense.readability?.fleschReadingEase).toBeLessThan(10);
    expect(dense.readability?.fleschKincaidGrade).toBeGreaterThan(
      simple.readability?.fleschKincaidGrade ?? 0,
    );
    const german = await analyze(paragraphs.deu as string);
    expect(german.readability).toMatchObject({ applies: false, fleschReadingEase: 0 });
  });

  it("finds key phrases, single words and pairs, without the language's stopwords", async () => {
    const text =
      "Task queues keep work durable. A task queue retries failed work, and task queues scale. " +
      "Durable task queues are what our users want; the task queues run on PostgreSQL.";
    const result = await analyze(text, { maxKeyPhrases: 5 });
    expect(result.keyPhrases).toHaveLength(5);
    expect(result.keyPhrases[0]).toMatchObject({
      phrase: "task queues",
      words: 2,
      count: 4,
      score: 1,
    });
    const phrases = result.keyPhrases.map((p) => p.phrase);
    expect(phrases).toContain("task");
    for (const stopword of ["the", "a", "are", "what", "on"])
      expect(phrases).not.toContain(stopword);
    const spanish = await analyze(paragraphs.spa as string);
    const spanishStopwords = new Set(stopwordLists.es);
    expect(spanish.keyPhrases.some((p) => spanishStopwords.has(p.phrase))).toBe(false);
    expect(spanish.keyPhrases.map((p) => p.phrase)).toContain("pan");
  });

  it("takes a language instead of detecting it, and refuses a code that names none", async () => {
    const result = await analyze("ok", { language: "de" });
    expect(result.language).toMatchObject({
      code: "deu",
      iso6391: "de",
      name: "German",
      confidence: 1,
    });
    expect(result.alternatives).toEqual([]);
    expect((await analyze("ok")).language?.code).toBe("und");
    expect(() =>
      textAnalysisTask.validate(
        create(TextAnalysisTaskSchema, { text: "x", language: "xx" }),
        "spec.text_analysis",
      ),
    ).toThrow('spec.text_analysis.language: "xx" is not an ISO 639-1 or 639-3 language code');
    expect(() =>
      textAnalysisTask.validate(
        create(TextAnalysisTaskSchema, { text: " " }),
        "spec.text_analysis",
      ),
    ).toThrow("spec.text_analysis.text: is required");
  });
});
