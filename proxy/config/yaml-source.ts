import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { keyPath, type ConfigProblem } from './problems.js';

/** A parsed YAML file that can say on which line any key path stands. */
export interface YamlSource {
  file: string;
  doc: Document;
  lines: LineCounter;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Parses YAML text; syntax errors become problems with their line. */
export function parseYaml(file: string, text: string, problems: ConfigProblem[]): YamlSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  for (const err of [...doc.errors, ...doc.warnings]) {
    const line = err.linePos?.[0]?.line ?? lines.linePos(err.pos[0]).line;
    problems.push({ file, line, key: '', message: err.message.split('\n')[0] ?? err.message });
  }
  const src = { file, doc, lines };
  if (doc.errors.length === 0) refuseUnresolvedAliases(src, problems);
  return src;
}

/**
 * An unquoted value starting with `*` (`host: *.ml.example.com`, or a `paths` glob) is a YAML
 * alias, which fails later when the tree is read: report it here, at its line, with the fix.
 * Found problems are also recorded as document errors so callers stop before reading the tree.
 */
function refuseUnresolvedAliases(src: YamlSource, problems: ConfigProblem[]): void {
  visit(src.doc, {
    Alias(_key, node, path) {
      if (node.resolve(src.doc) !== undefined) return;
      const line = lineOf(src, node);
      const message = `unquoted "*${node.source}" is read as a YAML alias: quote values that start with * (e.g. "*${node.source}")`;
      problems.push({ file: src.file, line, key: keyPath(pathToKeys(path)), message });
      src.doc.errors.push(Object.assign(new Error(message), { name: 'YAMLReferenceError', code: 'BAD_ALIAS', pos: node.range ? [node.range[0], node.range[1]] : [0, 0] }) as never);
    },
  });
}

/**
 * Replaces `${NAME}` and `${NAME:-default}` in string scalars with environment values.
 * Done on the parsed tree, never on the text, so a value cannot inject YAML structure.
 */
export function substituteEnv(src: YamlSource, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): void {
  visit(src.doc, {
    Scalar(_key, node, path) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return;
      node.value = node.value.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
        const value = env[name];
        if (value !== undefined && value !== '') return value;
        if (fallback !== undefined) return fallback;
        problems.push({
          file: src.file,
          line: lineOf(src, node),
          key: keyPath(pathToKeys(path)),
          message: `environment variable ${name} is not set`,
        });
        return '';
      });
    },
  });
}

/** The line of a node (1-based), 0 when it has no position. */
export function lineOf(src: YamlSource, node: Node | null | undefined): number {
  const offset = node?.range?.[0];
  return offset === undefined ? 0 : src.lines.linePos(offset).line;
}

/** Line of the key (or item) at `path`, falling back to the nearest located ancestor. */
export function locate(src: YamlSource, path: readonly PropertyKey[]): number {
  let node: unknown = src.doc.contents;
  let line = lineOf(src, node as Node);
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === seg);
      if (!pair) break;
      line = lineOf(src, pair.key as Node) || line;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      line = lineOf(src, node as Node) || line;
    } else break;
  }
  return line;
}

/** Validates the document against a schema, turning every issue into a located problem. */
export function validate<S extends z.ZodType>(src: YamlSource, schema: S, problems: ConfigProblem[]): z.output<S> | undefined {
  const result = schema.safeParse(src.doc.toJS({ maxAliasCount: 100 }) ?? {});
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        const path = [...issue.path, k];
        problems.push({ file: src.file, line: locate(src, path), key: keyPath(path), message: 'unknown key' });
      }
      continue;
    }
    problems.push({ file: src.file, line: locate(src, issue.path), key: keyPath(issue.path), message: issue.message });
  }
  return undefined;
}

function pathToKeys(path: readonly unknown[]): PropertyKey[] {
  const keys: PropertyKey[] = [];
  for (let i = 0; i < path.length; i++) {
    const item = path[i];
    if (isPair(item) && isScalar(item.key)) keys.push(String(item.key.value));
    else if (isSeq(item)) {
      const next = path[i + 1];
      const idx = item.items.indexOf(next as never);
      if (idx >= 0) keys.push(idx);
    }
  }
  return keys;
}
