import { direct } from "../support/database-route.js";
import { mariadbEngine } from "../support/mariadb-engine.js";
import { describeTwoInstances } from "./two-instances-suite.js";

describeTwoInstances(direct, mariadbEngine);
