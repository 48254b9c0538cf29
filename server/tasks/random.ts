import { randomBytes, randomInt } from "node:crypto";
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

function alphabetOf(input: RandomTask): string[] {
  return Array.from(input.alphabet || defaultAlphabet);
}

function randomIntegers(input: RandomTask, count: number): bigint[] {
  const min = Number(input.min);
  const span = Number(input.max - input.min) + 1;
  return Array.from({ length: count }, () => BigInt(min + randomInt(span)));
}

function randomStrings(input: RandomTask, count: number): string[] {
  const alphabet = alphabetOf(input);
  const length = input.length || 16;
  return Array.from({ length: count }, () => {
    let text = "";
    for (let i = 0; i < length; i++) text += alphabet[randomInt(alphabet.length)];
    return text;
  });
}

/** randomTask draws cryptographically secure random bytes, integers or strings. */
export const randomTask = defineTask({
  field: "random",
  description: "Draws secure random bytes, integers in a range, or strings from an alphabet.",
  requestSchema: RandomTaskSchema,
  resultSchema: RandomResultSchema,
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
