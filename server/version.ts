import { createRequire } from "node:module";

/** version is the server's version, from package.json. */
export const version: string = (
  createRequire(import.meta.url)("../package.json") as { version: string }
).version;
