import { throughPgBouncer } from "../support/pgbouncer.js";
import { describeTwoInstances } from "./two-instances-suite.js";

describeTwoInstances(throughPgBouncer);
