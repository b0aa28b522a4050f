/** The samples of one /metrics scrape; `value` reads one by name and labels (0 if absent). */
export interface Scrape {
  readonly text: string;
  value(name: string, labels?: Record<string, string>): number;
}

// `name{label="value",…} 12.5`, the Prometheus text format as prom-client writes it.
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function keyOf(name: string, labels: Record<string, string>): string {
  const sorted = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  return `${name}${JSON.stringify(sorted)}`;
}

/** Parses Prometheus text; label order does not matter to `value`. */
export function parseScrape(text: string): Scrape {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    const match = SAMPLE.exec(line);
    if (match === null) {
      continue;
    }
    const [, name, labelText = "", value] = match;
    const labels = Object.fromEntries(
      [...labelText.matchAll(LABEL)].map(([, label, labelValue]) => [label, labelValue]),
    );
    samples.set(keyOf(name as string, labels as Record<string, string>), Number(value));
  }
  return {
    text,
    value: (name, labels = {}) => samples.get(keyOf(name, labels)) ?? 0,
  };
}

/** GETs `<baseUrl>/metrics` with fetch, as Prometheus would, and parses it. */
export async function scrape(baseUrl: string): Promise<Scrape> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (response.status !== 200) {
    throw new Error(`/metrics answered ${response.status}`);
  }
  return parseScrape(await response.text());
}
