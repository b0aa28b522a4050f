import { isIP } from "node:net";
import type { RateLimit } from "../domain/policy.js";

/** A configuration value that cannot be used; the message names the variable and what it accepts. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";

  constructor(
    readonly variable: string,
    value: string,
    accepts: string,
  ) {
    super(`${variable}=${JSON.stringify(value)} is not valid: ${accepts}`);
  }
}

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d{1,9})(ms|s|m|h|d)$/;
const DURATION_ACCEPTS = "a duration like 500ms, 30s, 5m, 1h or 1d";

/** Parses `500ms`, `30s`, `5m`, `1h`, `1d` into milliseconds; must be positive. */
export function parseDuration(variable: string, value: string, orElse = ""): number {
  const match = DURATION.exec(value.trim());
  const ms = match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : 0;
  if (ms <= 0) {
    throw new ConfigError(
      variable,
      value,
      `expected ${DURATION_ACCEPTS}, greater than zero${orElse}`,
    );
  }
  return ms;
}

/** Parses `COUNT/DURATION`, e.g. `3/1h`; `orElse` describes another accepted value for messages. */
export function parseRateLimit(variable: string, value: string, orElse = ""): RateLimit {
  const accepts = `expected COUNT/DURATION like 3/1h (COUNT at least 1, DURATION ${DURATION_ACCEPTS})${orElse}`;
  const [count, duration, extra] = value.trim().split("/");
  if (
    count === undefined ||
    duration === undefined ||
    extra !== undefined ||
    !/^\d{1,9}$/.test(count)
  ) {
    throw new ConfigError(variable, value, accepts);
  }
  if (Number(count) < 1 || !DURATION.test(duration)) {
    throw new ConfigError(variable, value, accepts);
  }
  return { count: Number(count), windowMs: parseDuration(variable, duration) };
}

/** Parses a whole number in [min, max]. */
export function parseInteger(
  variable: string,
  value: string,
  min: number,
  max: number,
  orElse = "",
): number {
  const trimmed = value.trim();
  if (!/^\d{1,10}$/.test(trimmed) || Number(trimmed) < min || Number(trimmed) > max) {
    throw new ConfigError(
      variable,
      value,
      `expected a whole number from ${min} to ${max}${orElse}`,
    );
  }
  return Number(trimmed);
}

/** Parses a comma-separated list of IP addresses and CIDR ranges (IPv4 or IPv6). */
export function parseAddressList(variable: string, value: string): string[] {
  const entries = value
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  for (const entry of entries) {
    const [address = "", prefix, extra] = entry.split("/");
    const family = isIP(address);
    const maxPrefix = family === 4 ? 32 : 128;
    const prefixOk =
      prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new ConfigError(
        variable,
        value,
        "expected comma-separated IP addresses or CIDR ranges, like 10.0.0.0/8,::1",
      );
    }
  }
  return entries;
}

const ORIGIN_LIST_ACCEPTS =
  "expected * (any origin) or comma-separated origins like https://app.example.com,http://localhost:5173 (scheme, host and port only: no path, no trailing slash, no default port)";

/**
 * Parses a comma-separated list of exact web origins, or `*` alone for any origin. Each origin
 * must be written as browsers send it in the Origin header, since it is compared as a string.
 */
export function parseOriginList(variable: string, value: string): string[] {
  const entries = value
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (entries.includes("*")) {
    if (entries.length > 1) {
      throw new ConfigError(variable, value, ORIGIN_LIST_ACCEPTS);
    }
    return entries;
  }
  for (const entry of entries) {
    const origin = webOrigin(entry);
    if (origin !== entry) {
      const hint = origin === undefined ? "" : ` (did you mean ${origin}?)`;
      throw new ConfigError(variable, value, `${ORIGIN_LIST_ACCEPTS}${hint}`);
    }
  }
  return entries;
}

/** The origin of an http(s) URL as a browser serializes it, or undefined. */
function webOrigin(text: string): string | undefined {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.origin : undefined;
  } catch {
    return undefined;
  }
}
