import { direct } from "../support/database-route.js";
import { describeTwoInstances } from "./two-instances-suite.js";

describeTwoInstances(direct);
