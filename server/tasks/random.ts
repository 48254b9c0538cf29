import { getRandomValues, randomBytes, randomInt } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import {
  RandomKind,
  RandomKindSchema,
  RandomResultSchema,
  type RandomTask,
  RandomTaskSchema,
} from "../../gen/noizylab/agent/v1/random_pb.js";
import { checkEnum, checkRange, invalidField } from "./task-errors.js";
import { defineTask } from "./task-handler.js";

const defaultAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
// crypto.randomInt draws without bias from ranges narrower than 2^48.
const maxSpan = 2n ** 48n;
// The most characters a task's strings hold together: the task runs on the event loop.
const maxCharacters = 1_000_000;

function alphabetOf(input: RandomTask): string[] {
  return Array.from(input.alphabet || defaultAlphabet);
}

function randomIntegers(input: RandomTask, count: number): bigint[] {
  const min = Number(input.min);
  const span = Number(input.max - input.min) + 1;
  return Array.from({ length: count }, () => BigInt(min + randomInt(span)));
}

/**
 * randomIndices draws `count` indices below `size` (at most 65,536) without bias: 16-bit
 * values drawn in bulk, those past the last whole multiple of `size` drawn again.
 */
function randomIndices(count: number, size: number): Uint16Array {
  const indices = new Uint16Array(count);
  const limit = 65_536 - (65_536 % size);
  let filled = 0;
  while (filled < count) {
    const drawn = getRandomValues(new Uint16Array(Math.min(65_536 / 2, count - filled + 64)));
    for (let i = 0; i < drawn.length && filled < count; i++) {
      const value = drawn[i] as number;
      if (value < limit) indices[filled++] = value % size;
    }
  }
  return indices;
}

function randomStrings(input: RandomTask, count: number): string[] {
  const alphabet = alphabetOf(input);
  const length = input.length || 16;
  const indices = randomIndices(count * length, alphabet.length);
  return Array.from({ length: count }, (_, n) => {
    let text = "";
    for (let i = n * length; i < (n + 1) * length; i++) text += alphabet[indices[i] as number];
    return text;
  });
}

/** randomTask draws cryptographically secure random bytes, integers or strings. */
export const randomTask = defineTask({
  field: "random",
  description: "Draws secure random bytes, integers in a range, or strings from an alphabet.",
  requestSchema: RandomTaskSchema,
  resultSchema: RandomResultSchema,
  cost: "constant",
  pure: true,
  validate(input, path) {
    checkEnum(`${path}.kind`, input.kind, RandomKindSchema);
    if (input.kind === RandomKind.INTEGERS || input.kind === RandomKind.STRINGS) {
      checkRange(`${path}.count`, input.count, 0, 10_000);
    } else {
      checkRange(`${path}.count`, input.count, 0, 65_536);
    }
    if (input.kind === RandomKind.INTEGERS) {
      if (input.max < input.min) {
        throw invalidField(`${path}.max`, `must be at least min (${input.min}), got ${input.max}`);
      }
      if (input.max - input.min >= maxSpan) {
        throw invalidField(`${path}.max`, "max - min must be below 2^48");
      }
    }
    if (input.kind === RandomKind.STRINGS) {
      checkRange(`${path}.length`, input.length, 0, 10_000);
      const characters = (input.count || 1) * (input.length || 16);
      if (characters > maxCharacters) {
        throw invalidField(
          `${path}.count`,
          `count × length is at most ${maxCharacters.toLocaleString("en")} characters, got ${characters.toLocaleString("en")}`,
        );
      }
      const alphabet = alphabetOf(input);
      if (
        alphabet.length < 2 ||
        alphabet.length > 1_024 ||
        new Set(alphabet).size !== alphabet.length
      ) {
        throw invalidField(`${path}.alphabet`, "must hold 2 to 1,024 distinct characters");
      }
    }
  },
  async run(input) {
    switch (input.kind) {
      case RandomKind.INTEGERS:
        return create(RandomResultSchema, { integers: randomIntegers(input, input.count || 1) });
      case RandomKind.STRINGS:
        return create(RandomResultSchema, { strings: randomStrings(input, input.count || 1) });
      default:
        return create(RandomResultSchema, { data: randomBytes(input.count || 16) });
    }
  },
});
