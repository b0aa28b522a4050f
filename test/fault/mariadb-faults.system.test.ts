import { mariadbEngine } from "../support/mariadb-engine.js";
import { describeDatabaseFaults } from "./database-faults-suite.js";

describeDatabaseFaults(mariadbEngine);
