/**
 * Request fields that carry bearer secrets, by proto name. A URL is written to access logs,
 * proxies and browser history, so no door accepts these from one: a REST query parameter or path
 * variable naming one is refused (even before the field exists in the proto, since the name alone
 * says what the caller was about to leak), and an HTTP rule binding one to the path stops
 * start-up. Add a field here when it carries a secret.
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(["session_token", "token"]);

/** Whether `name` (a proto field name or its lowerCamel JSON name) is a secret field's. */
export function isSecretField(name: string): boolean {
  return SECRET_FIELDS.has(name) || SECRET_FIELDS.has(protoNameOf(name));
}

/** `sessionToken` → `session_token`. */
function protoNameOf(jsonName: string): string {
  return jsonName.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}
