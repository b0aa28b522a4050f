/**
 * Which server of DATABASE_URL's hosts a connection takes, as libpq's `target_session_attrs`
 * says it: `any` (the first that answers), `read-write` (one that accepts writes) or `primary`
 * (one not in recovery). The standby-seeking values are refused: every call of this service
 * may write.
 */
export type TargetSessionAttrs = "any" | "read-write" | "primary";

const TARGETS: readonly TargetSessionAttrs[] = ["any", "read-write", "primary"];
const STANDBY_TARGETS = ["read-only", "standby", "prefer-standby"];

/** One host of DATABASE_URL, with the URL that reaches it alone. */
export interface DatabaseHost {
  /** `host:port`, for logs, readiness and metrics (never the user or password). */
  readonly name: string;
  /** DATABASE_URL with this host only: node-postgres takes one host per connection. */
  readonly url: string;
}

/** What DATABASE_URL names: one host (used as node-postgres reads it), or several to choose from. */
export interface HostList {
  readonly hosts: readonly DatabaseHost[];
  readonly targetSessionAttrs: TargetSessionAttrs;
}

/** DATABASE_URL cannot be used; the message says why without repeating the URL (it may hold a password). */
export class HostListError extends Error {
  override readonly name = "HostListError";
}

const DEFAULT_PORT = 5432;

/**
 * Reads a PostgreSQL URL as libpq does for hosts: `postgres://user@h1:5432,h2:5433/db?…` lists
 * several, each with its own port (5432 when left out). A one-host URL is kept exactly as it is.
 * With several hosts, `target_session_attrs` must be `read-write` or `primary`, since `any` would
 * take a standby that answers first. Throws a HostListError naming what is wrong.
 */
export function parseHostList(url: string): HostList {
  const match = /^(postgres(?:ql)?:\/\/)([^/?#]*)(.*)$/i.exec(url);
  if (match === null) {
    throw new HostListError("expected a URL like postgres://user:password@host:5432/db");
  }
  const [, scheme = "", authority = "", rest = ""] = match;
  const at = authority.lastIndexOf("@");
  const userinfo = at === -1 ? "" : authority.slice(0, at + 1);
  const hostPart = authority.slice(at + 1);
  const query = new URLSearchParams(rest.split("?", 2)[1]?.split("#", 1)[0] ?? "");
  const targetSessionAttrs = readTarget(query.get("target_session_attrs"));

  if (!hostPart.includes(",")) {
    const parsed = tryUrl(url);
    if (parsed === undefined) {
      throw new HostListError("expected a URL like postgres://user:password@host:5432/db");
    }
    return {
      hosts: [{ name: `${parsed.hostname || "localhost"}:${parsed.port || DEFAULT_PORT}`, url }],
      targetSessionAttrs,
    };
  }
  if (query.has("host") || query.has("hostaddr") || query.has("port")) {
    throw new HostListError(
      "list several hosts in the URL's host part (postgres://user@h1:5432,h2:5432/db), not also in host, hostaddr or port parameters",
    );
  }
  if (targetSessionAttrs === "any") {
    throw new HostListError(
      "several hosts need target_session_attrs=read-write (or primary), so that the service connects to the one that accepts writes",
    );
  }
  const hosts = hostPart.split(",").map((entry, index) => {
    const host = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(entry);
    const port = Number(host?.[2] ?? DEFAULT_PORT);
    if (host === null || port < 1 || port > 65_535) {
      throw new HostListError(
        `host ${index + 1} of the list is not host or host:port (postgres://user@h1:5432,h2:5432/db)`,
      );
    }
    const name = `${host[1]}:${port}`;
    const single = `${scheme}${userinfo}${name}${rest}`;
    if (tryUrl(single) === undefined) {
      throw new HostListError(`host ${index + 1} of the list (${name}) does not make a valid URL`);
    }
    return { name, url: single };
  });
  return { hosts, targetSessionAttrs };
}

function readTarget(value: string | null): TargetSessionAttrs {
  if (value === null) {
    return "any";
  }
  const target = TARGETS.find((known) => known === value);
  if (target !== undefined) {
    return target;
  }
  throw new HostListError(
    STANDBY_TARGETS.includes(value)
      ? `target_session_attrs=${value} would connect to a standby, which cannot take the service's writes: use read-write or primary`
      : `target_session_attrs must be read-write, primary or any, not ${JSON.stringify(value)}`,
  );
}

function tryUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
