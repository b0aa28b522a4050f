import { mariadbEngine } from "../support/mariadb-engine.js";
import { describeAdversary } from "./adversary-suite.js";

describeAdversary(mariadbEngine);
