// The few lines `make demo` prints so its output explains itself: which
// names mean the same backend, what spread 100 requests should show, why the
// balancer counts only client->VIP packets, and colour only on a terminal.

export interface NamedBackend {
  /** What its HTTP server answers (backend-N) and its network namespace. */
  readonly name: string;
  readonly netns: string;
  readonly address: string;
}

/** One line per backend: the HTTP answer, the Backend object and the address are one machine. */
export function backendNames(nodes: readonly NamedBackend[], objects: readonly { name: string; address: string }[]): string {
  const byAddress = new Map(objects.map((o) => [o.address, o.name]));
  return nodes
    .map((n) => `  ${n.name.padEnd(10)} = Backend ${(byAddress.get(n.address) ?? '(none)').padEnd(6)} = ${n.address.padEnd(10)} (network namespace ${n.netns})`)
    .join('\n');
}

/** What an even spread of `requests` new connections over `backends` equal backends looks like. */
export function spreadNote(requests: number, backends: number): string {
  const p = 1 / backends;
  const mean = requests * p;
  const sd = Math.sqrt(requests * p * (1 - p));
  const lo = Math.max(0, Math.round(mean - 2 * sd));
  const hi = Math.round(mean + 2 * sd);
  return [
    `Each request is a new TCP connection from a new source port; Maglev hashes its 5-tuple, so`,
    `${String(backends)} equal backends get ${mean.toFixed(0)} ± ${sd.toFixed(0)} each (95% of runs: ${String(lo)}..${String(hi)}), like dice: not exactly even.`,
  ].join('\n');
}

/** Why `sterlet stats` shows more packets than requests, and what "passed" means. */
export function statsNote(requests: number): string {
  return [
    `The balancer sees only client -> VIP packets (SYN, ACK, request, FIN, ACKs: ~5 per request,`,
    `so ~${String(requests * 5)} for ${String(requests)}); replies go straight from the backend to the client (DSR).`,
    `"passed" counts packets that are not for a VIP (ARP, neighbour discovery), handed to the kernel.`,
  ].join('\n');
}

/** Colour codes only for a terminal that wants them (NO_COLOR, pipes and log files get plain text). */
export function painter(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): (code: string, text: string) => string {
  const on = stream.isTTY === true && env['NO_COLOR'] === undefined && env['TERM'] !== 'dumb';
  return (code, text) => (on ? `\x1b[${code}m${text}\x1b[0m` : text);
}

/** Requests per backend as a bar chart, one line per backend. */
export function requestTable(counts: Readonly<Record<string, number>>): string {
  const rows = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  const width = Math.max(...rows.map(([, n]) => n), 1);
  return rows.map(([name, n]) => `  ${name.padEnd(10)} ${String(n).padStart(4)}  ${'#'.repeat(Math.round((n / width) * 40))}`).join('\n');
}
