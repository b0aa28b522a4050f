import pg from "pg";
import { afterAll, inject } from "vitest";
import { migrate } from "../../src/storage/postgres/migrations.js";
import { createPostgresStore } from "../../src/storage/postgres/postgres-store.js";
import { createDatabase, truncateAll } from "../support/postgres-server.js";
import { describeSequencesOn } from "./database-model-suites.js";

const databaseUrl = await createDatabase(inject("postgresUrl"));
const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
await migrate(pool);
const store = createPostgresStore(pool);

afterAll(() => store.close());

describeSequencesOn("PostgreSQL", store, () => truncateAll(pool), 100);
