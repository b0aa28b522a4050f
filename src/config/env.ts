/** The environment variables the service is configured by, as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * The value of variable `name`, untouched, or undefined when it is unset or blank: an empty
 * variable takes its default, as if unset. Callers trim where spaces cannot matter (secrets keep
 * theirs).
 */
export function read(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === "" ? undefined : value;
}
