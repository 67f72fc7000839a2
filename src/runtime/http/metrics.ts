// The Prometheus text exposition (format 0.0.4) of the node's stats: the same document as
// GET /v1/stats, flattened. Every numeric (or boolean) leaf becomes a gauge named by its path
// (`ringkv_requests_get_latency_ms_p99`); arrays of objects become one series per element,
// labelled by the element's identifying field (peer, name, workerIndex, partition) or its index.
// Deriving the metrics from the stats document keeps the two from drifting apart.

/** Fields that name an array element; the first one present becomes the series label. */
const identifyingFields = ['peer', 'name', 'workerIndex', 'partition', 'node'] as const;

type Labels = ReadonlyArray<readonly [string, string]>;

function metricName(path: readonly string[]): string {
  const snake = path.map((part) => part.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9_]/g, '_').toLowerCase());
  return ['ringkv', ...snake].join('_');
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatLabels(labels: Labels): string {
  if (labels.length === 0) return '';
  return `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function walk(value: unknown, path: string[], labels: Labels, out: Map<string, string[]>): void {
  if (typeof value === 'number' && Number.isFinite(value)) {
    add(out, metricName(path), `${formatLabels(labels)} ${value}`);
  } else if (typeof value === 'boolean') {
    add(out, metricName(path), `${formatLabels(labels)} ${value ? 1 : 0}`);
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => {
      if (typeof item !== 'object' || item === null) return;
      const record = item as Record<string, unknown>;
      const key = identifyingFields.find((field) => typeof record[field] === 'string' || typeof record[field] === 'number');
      const label: readonly [string, string] = key === undefined ? ['index', String(index)] : [labelName(key), String(record[key])];
      walk(record, path, [...labels, label], out);
    });
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, child] of Object.entries(value)) {
      if ((identifyingFields as readonly string[]).includes(key) && labels.some(([name]) => name === labelName(key))) continue;
      walk(child, [...path, key], labels, out);
    }
  }
}

function labelName(field: string): string {
  return field === 'workerIndex' ? 'worker' : field;
}

function add(out: Map<string, string[]>, name: string, sample: string): void {
  const samples = out.get(name);
  if (samples === undefined) out.set(name, [sample]);
  else samples.push(sample);
}

/** The stats document as Prometheus text: one gauge family per numeric path. */
export function prometheusText(stats: unknown): string {
  const families = new Map<string, string[]>();
  walk(stats, [], [], families);
  const lines: string[] = [];
  for (const [name, samples] of [...families].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    lines.push(`# TYPE ${name} gauge`);
    for (const sample of samples) lines.push(`${name}${sample}`);
  }
  return `${lines.join('\n')}\n`;
}
