import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { UpstreamAuthConfig } from '../config/policy-schema.js';
import { ConfigError, type ConfigProblem } from '../config/problems.js';
import type { CompiledRoute } from '../policy/compile.js';

/** Per route with `upstream_auth`: the header Gatehouse adds upstream, as [name, value]. */
export type Credentials = ReadonlyMap<CompiledRoute, readonly [name: string, value: string]>;

/** What a header value may hold (RFC 9110 5.5: visible ASCII, space, tab). */
const HEADER_VALUE = /^[\x20-\x7e\t]+$/;

/**
 * Reads every route's upstream secret once, when a policy is built (start or reload): a missing
 * variable or file, or a value no header can carry, is a problem at the route, reported all at
 * once, and the policy is not served (a reload keeps the old one). Secrets never appear in
 * problems or logs.
 * @throws ConfigError
 */
export function resolveCredentials(routes: readonly CompiledRoute[], env: NodeJS.ProcessEnv = process.env): Credentials {
  const out = new Map<CompiledRoute, readonly [string, string]>();
  const problems: ConfigProblem[] = [];
  for (const route of routes) {
    if (!route.upstreamAuth) continue;
    const { spec, dir } = route.upstreamAuth;
    const [file, line] = splitSource(route.source);
    const key = `route ${route.name}.upstream_auth`;
    const read = (ref: { env?: string; file?: string }, what: string): string | undefined => {
      const value = ref.env !== undefined ? env[ref.env] : readSecretFile(resolve(dir, ref.file!));
      const from = ref.env !== undefined ? `environment variable ${ref.env}` : `file ${ref.file}`;
      if (value === undefined || value === '') problems.push({ file, line, key, message: `${what}: ${from} is not set or empty` });
      else if (!HEADER_VALUE.test(value)) problems.push({ file, line, key, message: `${what}: ${from} holds characters a header cannot carry (line breaks, control or non-ASCII)` });
      else return value;
      return undefined;
    };
    const header = headerOf(spec, read);
    if (header) out.set(route, Object.freeze(header));
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
}

function headerOf(spec: UpstreamAuthConfig, read: (ref: { env?: string; file?: string }, what: string) => string | undefined): [string, string] | undefined {
  if (spec.bearer) {
    const token = read(spec.bearer, 'bearer');
    return token === undefined ? undefined : ['authorization', `Bearer ${token}`];
  }
  if (spec.basic) {
    const password = read(spec.basic.password, 'basic.password');
    return password === undefined ? undefined : ['authorization', `Basic ${Buffer.from(`${spec.basic.username}:${password}`, 'utf8').toString('base64')}`];
  }
  const value = read(spec.header!.value, 'header.value');
  return value === undefined ? undefined : [spec.header!.name, value];
}

function readSecretFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch {
    return undefined;
  }
}

function splitSource(source: string): [string, number] {
  const i = source.lastIndexOf(':');
  return [source.slice(0, i), Number(source.slice(i + 1)) || 0];
}
