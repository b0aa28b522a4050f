import { postgresEngine } from "../support/postgres-engine.js";
import { describeAdversary } from "./adversary-suite.js";

describeAdversary("memory");
describeAdversary(postgresEngine);
