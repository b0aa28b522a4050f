import { throughPgBouncer } from "../support/pgbouncer.js";
import { describeDatabaseOutage } from "./database-outage-suite.js";

// After failing to reach the server, PgBouncer refuses new server logins for server_login_retry
// (15 s by default) before it tries again: the service may take that much longer to recover.
describeDatabaseOutage(throughPgBouncer, 25_000);
