/**
 * One segment of a path template: a literal, `*` (exactly one segment) or `**` (the rest of the
 * path, zero or more segments).
 */
export type TemplateSegment =
  | { readonly kind: "literal"; readonly value: string }
  | { readonly kind: "single" }
  | { readonly kind: "rest" };

/** A `{field}` or `{field=…}` of a template: the request field bound to segments start..end. */
export interface TemplateVariable {
  /** `name` or `parent.child`, as written (proto field names). */
  readonly fieldPath: readonly string[];
  readonly start: number;
  /** Exclusive; for a variable ending in `**`, the end of the path. */
  readonly end: number;
  /** True when the variable ends in `**` and so may take several segments (and their slashes). */
  readonly rest: boolean;
}

/** A parsed `google.api.HttpRule` path template. */
export interface PathTemplate {
  /** As written in the rule, for messages. */
  readonly source: string;
  readonly segments: readonly TemplateSegment[];
  readonly variables: readonly TemplateVariable[];
  /** The custom verb after the last `:`, if any. */
  readonly verb: string | undefined;
}

/** A path template that breaks the HttpRule grammar; the message says where and why. */
export class PathTemplateError extends Error {
  override readonly name = "PathTemplateError";
}

// RFC 3986 pchar minus ":" (which starts a verb), with percent-escapes.
const LITERAL = /^(?:[A-Za-z0-9._~!$&'()+,;=@-]|%[0-9A-Fa-f]{2})+$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses a path template by the `google.api.HttpRule` grammar:
 *
 *     Template = "/" Segments [ Verb ] ;
 *     Segments = Segment { "/" Segment } ;
 *     Segment  = "*" | "**" | LITERAL | Variable ;
 *     Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *     FieldPath = IDENT { "." IDENT } ;
 *     Verb     = ":" LITERAL ;
 *
 * `{field}` means `{field=*}`. Also refused, as gateways refuse them: `**` anywhere but last,
 * nested variables, a field bound twice, empty segments. Throws PathTemplateError.
 */
export function parsePathTemplate(source: string): PathTemplate {
  if (!source.startsWith("/")) {
    throw new PathTemplateError(`path template ${quote(source)} must start with "/"`);
  }
  const { path, verb } = splitVerb(source);
  const segments: TemplateSegment[] = [];
  const variables: TemplateVariable[] = [];
  // Each raw part is a segment, except that a variable's `=` pattern may span several.
  const parts = splitOutsideBraces(path.slice(1), source);
  for (const part of parts) {
    if (part.startsWith("{")) {
      if (!part.endsWith("}")) {
        throw new PathTemplateError(`path template ${quote(source)}: unclosed variable ${part}`);
      }
      const inner = part.slice(1, -1);
      const eq = inner.indexOf("=");
      const fieldPath = (eq === -1 ? inner : inner.slice(0, eq)).split(".");
      if (!fieldPath.every((name) => IDENT.test(name))) {
        throw new PathTemplateError(
          `path template ${quote(source)}: ${quote(inner)} does not name a field`,
        );
      }
      const pattern = eq === -1 ? ["*"] : inner.slice(eq + 1).split("/");
      const start = segments.length;
      for (const raw of pattern) {
        if (raw.includes("{")) {
          throw new PathTemplateError(`path template ${quote(source)}: nested variable in ${part}`);
        }
        segments.push(segmentOf(raw, source));
      }
      const key = fieldPath.join(".");
      if (variables.some((variable) => variable.fieldPath.join(".") === key)) {
        throw new PathTemplateError(`path template ${quote(source)} binds ${key} twice`);
      }
      variables.push({
        fieldPath,
        start,
        end: segments.length,
        rest: segments.at(-1)?.kind === "rest",
      });
    } else {
      if (part.includes("}") || part.includes("=")) {
        throw new PathTemplateError(`path template ${quote(source)}: unexpected ${quote(part)}`);
      }
      segments.push(segmentOf(part, source));
    }
  }
  const restAt = segments.findIndex((segment) => segment.kind === "rest");
  if (restAt !== -1 && restAt !== segments.length - 1) {
    throw new PathTemplateError(`path template ${quote(source)}: "**" must be the last segment`);
  }
  return { source, segments, variables, verb };
}

function splitVerb(source: string): { path: string; verb: string | undefined } {
  const lastSlash = source.lastIndexOf("/");
  const lastClose = source.lastIndexOf("}");
  const colon = source.indexOf(":", Math.max(lastSlash, lastClose));
  if (colon === -1) {
    return { path: source, verb: undefined };
  }
  const verb = source.slice(colon + 1);
  if (!LITERAL.test(verb)) {
    throw new PathTemplateError(`path template ${quote(source)}: bad verb ${quote(verb)}`);
  }
  return { path: source.slice(0, colon), verb };
}

/** Splits on "/" except inside `{…}`. */
function splitOutsideBraces(path: string, source: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of path) {
    if (char === "{") {
      depth++;
      if (depth > 1) {
        throw new PathTemplateError(`path template ${quote(source)}: nested variable`);
      }
    } else if (char === "}") {
      depth--;
      if (depth < 0) {
        throw new PathTemplateError(`path template ${quote(source)}: unmatched "}"`);
      }
    }
    if (char === "/" && depth === 0) {
      parts.push(current);
      current = "";
    } else {
      current += char;
    }
  }
  if (depth !== 0) {
    throw new PathTemplateError(`path template ${quote(source)}: unclosed variable`);
  }
  parts.push(current);
  return parts;
}

function segmentOf(raw: string, source: string): TemplateSegment {
  if (raw === "*") {
    return { kind: "single" };
  }
  if (raw === "**") {
    return { kind: "rest" };
  }
  if (raw === "") {
    throw new PathTemplateError(`path template ${quote(source)} has an empty segment`);
  }
  if (!LITERAL.test(raw)) {
    throw new PathTemplateError(`path template ${quote(source)}: bad segment ${quote(raw)}`);
  }
  return { kind: "literal", value: decodeURIComponent(raw) };
}

function quote(text: string): string {
  return JSON.stringify(text);
}
