import { inject } from "vitest";
import { describeStoreContract } from "../store-contract.js";
import { createPgStore } from "./pg-store.js";
import { createDatabase } from "./throwaway-postgres.js";

describeStoreContract("PostgreSQL", async () =>
  createPgStore({
    url: await createDatabase(inject("postgresUrl")),
    poolSize: 4,
    instanceId: "test",
  }),
);
