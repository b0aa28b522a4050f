import { postgresEngine } from "../support/postgres-engine.js";
import { describeDatabaseFaults } from "./database-faults-suite.js";

describeDatabaseFaults(postgresEngine);
