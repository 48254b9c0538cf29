import { spawn } from "node:child_process";
import { startThrowawayPostgres } from "./server/store/postgres/throwaway-postgres.ts";

const s = await startThrowawayPostgres();
console.log(s.url);
const c = spawn(process.execPath, ["bin/cloudagent.js", "serve"], {
  env: {
    ...process.env,
    CLOUDAGENT_PORT: "0",
    CLOUDAGENT_DATA_DIR: "/tmp/scratch/d1",
    CLOUDAGENT_DATABASE_URL: s.url,
  },
  stdio: "inherit",
});
await new Promise((r) => setTimeout(r, 3000));
c.kill("SIGTERM");
await new Promise((r) => setTimeout(r, 1000));
s.destroy();
