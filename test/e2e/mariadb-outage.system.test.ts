import { direct } from "../support/database-route.js";
import { mariadbEngine } from "../support/mariadb-engine.js";
import { describeDatabaseOutage } from "./database-outage-suite.js";

describeDatabaseOutage(direct, 10_000, mariadbEngine);
