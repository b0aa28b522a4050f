// JSON.parse keeps the last of two equal names without a word. protobuf-es's fromJsonString, which
// parses the Connect door's JSON, refuses them but does not export its scan; the doors that parse
// JSON themselves use this one, so that every door gives one answer.

/**
 * The first member name that one object of `json` holds twice, at any depth, or undefined when no
 * object does. Names compare as JSON.parse decodes them, so `"a"` and `"\u0061"` are the same.
 *
 * `json` must be text JSON.parse has accepted: the scan trusts its structure and follows only
 * brackets, separators and strings. One pass, one set per open object.
 */
export function duplicateKeyIn(json: string): string | undefined {
  // Per open bracket: the names seen in that object, or null for an array.
  const open: (Set<string> | null)[] = [];
  // Whether the next string is a member name rather than a value.
  let nameNext = false;
  let i = 0;
  while (i < json.length) {
    const char = json[i];
    if (char === '"') {
      const start = i;
      let escaped = false;
      i++;
      while (json[i] !== '"') {
        if (json[i] === "\\") {
          escaped = true;
          i++;
        }
        i++;
      }
      i++;
      const names = open.at(-1);
      if (nameNext && names) {
        const name = escaped
          ? (JSON.parse(json.slice(start, i)) as string)
          : json.slice(start + 1, i - 1);
        if (names.has(name)) {
          return name;
        }
        names.add(name);
      }
      nameNext = false;
      continue;
    }
    switch (char) {
      case "{":
        open.push(new Set());
        nameNext = true;
        break;
      case "[":
        open.push(null);
        nameNext = false;
        break;
      case "}":
      case "]":
        open.pop();
        nameNext = false;
        break;
      case ",":
        nameNext = Boolean(open.at(-1));
        break;
      case ":":
        nameNext = false;
        break;
    }
    i++;
  }
  return undefined;
}
