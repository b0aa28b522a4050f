import { direct } from "../support/database-route.js";
import { describeDatabaseOutage } from "./database-outage-suite.js";

describeDatabaseOutage(direct, 10_000);
