#!/usr/bin/env node
// The cloudagent command. The sources are TypeScript, loaded through tsx's ESM hooks.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../clients/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
