import { direct } from "../support/database-route.js";
import { describePostgresOutage } from "./postgres-outage-suite.js";

describePostgresOutage(direct, 10_000);
