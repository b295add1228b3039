/** One thing wrong with a config or policy file, located for a human. */
export interface ConfigProblem {
  file: string;
  /** 1-based line, 0 when unknown. */
  line: number;
  /** Dotted key path: `saml.connections[0].id`. */
  key: string;
  message: string;
}

/** Thrown when any file has problems; carries all of them so they are reported at once. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: ConfigProblem[]) {
    super(`${problems.length} configuration problem(s):\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** `file:line key: message`, the format `gatehouse check` prints. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line} ${p.key || '(root)'}: ${p.message}`;
}

/** Renders a key path as `a.b[0].c`. */
export function keyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : `${out ? '.' : ''}${String(seg)}`;
  return out;
}
