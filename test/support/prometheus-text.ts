/** The samples of one /metrics scrape. */
export interface Scrape {
  readonly text: string;
  /**
   * The sum of the samples named `name` whose labels include `labels` (0 if none): with every
   * label given, that one sample; with some left out, their total across the others.
   */
  value(name: string, labels?: Record<string, string>): number;
}

// `name{label="value",…} 12.5`, the Prometheus text format as prom-client writes it.
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses Prometheus text; label order does not matter to `value`. */
export function parseScrape(text: string): Scrape {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const match = SAMPLE.exec(line);
    if (match === null) {
      continue;
    }
    const [, name, labelText = "", value] = match;
    const labels = Object.fromEntries(
      [...labelText.matchAll(LABEL)].map(([, label, labelValue]) => [label, labelValue]),
    );
    samples.push({ name: name as string, labels, value: Number(value) });
  }
  return {
    text,
    value: (name, labels = {}) =>
      samples
        .filter(
          (sample) =>
            sample.name === name &&
            Object.entries(labels).every(([label, value]) => sample.labels[label] === value),
        )
        .reduce((sum, sample) => sum + sample.value, 0),
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
