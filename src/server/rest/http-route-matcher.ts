import type { PathTemplate, TemplateSegment } from "./http-path-template.js";

/** One route: an HTTP method and a path template, leading to `target`. */
export interface RouteBinding<T> {
  /** Upper case: `GET`, `POST`, or a custom rule's kind. */
  readonly httpMethod: string;
  readonly template: PathTemplate;
  readonly target: T;
  /** Who declared the route (`auth.v1.AuthService.RequestOtp`), for conflict messages. */
  readonly owner: string;
}

/** What a request's method and path lead to. */
export type RouteMatch<T> =
  /** `raw` holds each template variable's segments as sent (still percent-encoded). */
  | { readonly kind: "found"; readonly binding: RouteBinding<T>; readonly raw: readonly string[] }
  /** The path is known, but not for this method; `allowed` lists the methods that are. */
  | { readonly kind: "method_not_allowed"; readonly allowed: readonly string[] }
  | { readonly kind: "not_found" };

/** Finds the route for a request. */
export interface RouteMatcher<T> {
  /** The route for `httpMethod` (HEAD is served as GET) at `path` (no query, not decoded). */
  match(httpMethod: string, path: string): RouteMatch<T>;
}

/** Two routes that no request could tell apart; the message names both owners. */
export class RouteConflictError extends Error {
  override readonly name = "RouteConflictError";
}

const RANK = { literal: 0, single: 1, rest: 2 } as const;

/**
 * A matcher over `bindings`. Where several templates match a path, the most specific wins,
 * comparing segment by segment: a literal beats `*` (and `{var}`), which beats `**`; a template
 * with a custom verb beats one without. Empty segments (`//`, a trailing `/`) match nothing.
 * Throws RouteConflictError when two bindings have the same method and the same template shape.
 */
export function createRouteMatcher<T>(bindings: readonly RouteBinding<T>[]): RouteMatcher<T> {
  const seen = new Map<string, RouteBinding<T>>();
  for (const binding of bindings) {
    const key = `${binding.httpMethod} ${shapeOf(binding.template)}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      throw new RouteConflictError(
        `${binding.owner}: route ${binding.httpMethod} ${binding.template.source} conflicts with ${earlier.owner}'s ${earlier.httpMethod} ${earlier.template.source}`,
      );
    }
    seen.set(key, binding);
  }

  return {
    match(httpMethod, path) {
      const asked = httpMethod === "HEAD" ? "GET" : httpMethod;
      const candidates = matching(bindings, path);
      const best = candidates.filter((candidate) => candidate.binding.httpMethod === asked)[0];
      if (best !== undefined) {
        return { kind: "found", binding: best.binding, raw: best.raw };
      }
      if (candidates.length === 0) {
        return { kind: "not_found" };
      }
      const allowed = new Set(candidates.map((candidate) => candidate.binding.httpMethod));
      if (allowed.has("GET")) {
        allowed.add("HEAD");
      }
      allowed.add("OPTIONS");
      return { kind: "method_not_allowed", allowed: [...allowed].sort() };
    },
  };
}

interface Candidate<T> {
  readonly binding: RouteBinding<T>;
  readonly raw: string[];
  readonly ranks: number[];
}

/** Every binding whose template matches `path`, most specific first. */
function matching<T>(bindings: readonly RouteBinding<T>[], path: string): Candidate<T>[] {
  if (!path.startsWith("/")) {
    return [];
  }
  const segments = path.slice(1).split("/");
  if (segments.includes("")) {
    return [];
  }
  const last = segments.at(-1) as string;
  const colon = last.lastIndexOf(":");
  const withVerb =
    colon === -1
      ? undefined
      : { segments: [...segments.slice(0, -1), last.slice(0, colon)], verb: last.slice(colon + 1) };
  const found: Candidate<T>[] = [];
  for (const binding of bindings) {
    const { template } = binding;
    const candidate =
      template.verb === undefined
        ? matchSegments(binding, segments)
        : withVerb !== undefined && withVerb.verb === template.verb
          ? matchSegments(binding, withVerb.segments)
          : undefined;
    if (candidate !== undefined) {
      found.push(candidate);
    }
  }
  return found.sort(moreSpecificFirst);
}

function matchSegments<T>(
  binding: RouteBinding<T>,
  segments: readonly string[],
): Candidate<T> | undefined {
  const template = binding.template.segments;
  const ranks: number[] = [];
  let i = 0;
  for (const segment of template) {
    ranks.push(RANK[segment.kind]);
    if (segment.kind === "rest") {
      i = segments.length;
      break;
    }
    const actual = segments[i];
    if (actual === undefined || actual === "") {
      return undefined;
    }
    if (segment.kind === "literal" && decodeOrUndefined(actual) !== segment.value) {
      return undefined;
    }
    i++;
  }
  if (i !== segments.length) {
    return undefined;
  }
  const raw = binding.template.variables.map((variable) => {
    const end = variable.rest ? segments.length : variable.end;
    return segments.slice(variable.start, end).join("/");
  });
  if (binding.template.verb !== undefined) {
    // Beats a template that simply ends there (ranked -2 by moreSpecificFirst).
    ranks.push(-3);
  }
  return { binding, raw, ranks };
}

function moreSpecificFirst<T>(a: Candidate<T>, b: Candidate<T>): number {
  const length = Math.max(a.ranks.length, b.ranks.length);
  for (let i = 0; i < length; i++) {
    const difference = (a.ranks[i] ?? -2) - (b.ranks[i] ?? -2);
    if (difference !== 0) {
      return difference;
    }
  }
  return 0;
}

/** What makes two templates indistinguishable: their segments' kinds, literals and verb. */
function shapeOf(template: PathTemplate): string {
  const segments = template.segments.map((segment: TemplateSegment) =>
    segment.kind === "literal" ? `=${segment.value}` : segment.kind === "single" ? "*" : "**",
  );
  return `/${segments.join("/")}${template.verb === undefined ? "" : `:${template.verb}`}`;
}

function decodeOrUndefined(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * A variable's value from its raw segments: percent-decoded, except that a variable spanning
 * several segments (`**`) keeps `%2F` as it is, so its slashes stay distinguishable from
 * encoded ones (the HttpRule rule). Throws URIError for a malformed escape.
 */
export function decodeVariable(raw: string, rest: boolean): string {
  return decodeURIComponent(rest ? raw.replace(/%2F/gi, "%252F") : raw);
}
