import { UsageError } from "./usage.js";

/** CommandInput is a parsed command line for one of the task commands. */
export interface CommandInput {
  readonly positionals: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  readonly json: boolean;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** option is a string option's value, if given. */
export function option(input: CommandInput, name: string): string | undefined {
  const value = input.values[name];
  return typeof value === "string" ? value : undefined;
}

/** integerOption is a whole-number option's value, if given; anything else is a UsageError. */
export function integerOption(input: CommandInput, name: string): number | undefined {
  const value = option(input, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new UsageError(`--${name} must be a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** dateOption is a date-and-time option's value, if given; anything else is a UsageError. */
export function dateOption(input: CommandInput, name: string): Date | undefined {
  const value = option(input, name);
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new UsageError(
      `--${name} must be a date and time such as 2026-01-31T12:00:00Z, got ${JSON.stringify(value)}`,
    );
  }
  return date;
}

/** listOption is a repeatable option's values, each of which may itself be comma-separated. */
export function listOption(input: CommandInput, name: string): string[] {
  const value = input.values[name];
  return Array.isArray(value) ? value.flatMap((v) => v.split(",")) : [];
}
