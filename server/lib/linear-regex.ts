import { RE2JS } from "re2js";

/** LinearRegex is a regular expression that matches in time linear in its input. */
export interface LinearRegex {
  /** test tells whether the pattern matches anywhere in the input. */
  test(input: string): boolean;
  /** The pattern and its flags, as a JavaScript literal would show them: "/a+/i". */
  toString(): string;
}

const flagBits: Record<string, number> = {
  i: RE2JS.CASE_INSENSITIVE,
  m: RE2JS.MULTILINE,
  s: RE2JS.DOTALL,
  // RE2 matches Unicode code points always: "u" changes nothing, and "g" and "y" (state
  // between calls) mean nothing to a test.
  u: 0,
  g: 0,
  y: 0,
};

/**
 * compileLinearRegex compiles a caller's regular expression, written as for JavaScript, on
 * RE2's automata (re2js, a port of RE2/J): no input makes it backtrack, so `^(a|a)*$` on a
 * long string takes microseconds, not the age of the universe. What RE2 cannot run in linear
 * time (backreferences, lookahead, lookbehind) is a SyntaxError naming it.
 */
export function compileLinearRegex(pattern: string, flags = ""): LinearRegex {
  let bits = 0;
  for (const flag of flags) {
    const bit = flagBits[flag];
    if (bit === undefined) throw new SyntaxError(`unknown regular expression flag "${flag}"`);
    bits |= bit;
  }
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(RE2JS.translateRegExp(pattern), bits);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new SyntaxError(
      `${message} (patterns run on RE2, in linear time: no backreferences or lookaround)`,
    );
  }
  const literal = `/${pattern}/${flags}`;
  return { test: (input) => compiled.test(input), toString: () => literal };
}
