/**
 * One header's text from its values as a transport holds them (node's `string | string[]`,
 * grpc-js metadata's `(string | Buffer)[]`): repeated values joined by ", " as fetch's Headers
 * joins them; null when absent or binary (a `-bin` metadata entry).
 */
export function joinedValue(value: string | readonly unknown[] | undefined): string | null {
  if (value === undefined || typeof value === "string") {
    return value ?? null;
  }
  const [first] = value;
  if (typeof first !== "string") {
    return null;
  }
  return value.length === 1 ? first : value.map(String).join(", ");
}

/** `headers` as a plain record of lower-case names, as node's writeHead and the logs take them. */
export function recordOf(headers: Headers): Record<string, string> {
  const record: Record<string, string> = {};
  headers.forEach((value, name) => {
    record[name] = value;
  });
  return record;
}
