import { serve } from "../../server/main.js";

/** main runs the cloudagent command with its arguments and resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  if (args[0] === "serve") {
    await serve();
    return 0;
  }
  return 2;
}
