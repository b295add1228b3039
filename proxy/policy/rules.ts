import type { BlockList } from 'node:net';
import type { RuleConfig } from '../config/policy-schema.js';
import { buildTrustList } from '../server/trusted-proxies.js';
import { compilePathPattern, type PathPattern } from './path-pattern.js';

/** One rule compiled for lookups: sets and matchers built once at startup. */
export interface RuleNode {
  public: boolean;
  authenticated: boolean;
  groupsAny?: ReadonlySet<string>;
  groupsAll?: readonly string[];
  emails?: ReadonlySet<string>;
  domains?: ReadonlySet<string>;
  connections?: ReadonlySet<string>;
  methods?: ReadonlySet<string>;
  paths?: readonly PathPattern[];
  sourceIp?: BlockList;
  and?: readonly RuleNode[];
  or?: readonly RuleNode[];
  not?: RuleNode;
}

/** A top-level rule of a route, with where it stands (`allow[0]`, `deny[2]`). */
export interface CompiledRule {
  label: string;
  node: RuleNode;
}

/** Compiles one rule (recursively). */
export function compileRule(rule: RuleConfig): RuleNode {
  const lower = (xs: string[] | undefined) => (xs ? new Set(xs.map((x) => x.toLowerCase())) : undefined);
  const groups = rule.groups;
  return Object.freeze({
    public: rule.public === true,
    authenticated: rule.authenticated === true,
    groupsAny: Array.isArray(groups) ? new Set(groups) : groups && 'any' in groups ? new Set(groups.any) : undefined,
    groupsAll: groups && !Array.isArray(groups) && 'all' in groups ? [...new Set(groups.all)] : undefined,
    emails: lower(rule.emails),
    domains: lower(rule.email_domains),
    connections: rule.connections ? new Set(rule.connections) : undefined,
    methods: rule.methods ? methodSet(rule.methods) : undefined,
    paths: rule.paths?.map((p) => compilePathPattern(p)),
    sourceIp: rule.source_ip ? buildTrustList(rule.source_ip).list : undefined,
    and: rule.and?.map(compileRule),
    or: rule.or?.map(compileRule),
    not: rule.not ? compileRule(rule.not) : undefined,
  });
}

/** Methods as a set; GET implies HEAD (a HEAD is a GET without the body). */
export function methodSet(methods: readonly string[]): ReadonlySet<string> {
  const set = new Set(methods);
  if (set.has('GET')) set.add('HEAD');
  return set;
}

/** The rules nested in a rule (`and`, `or`, `not`), for walks over the whole tree. */
export function childrenOf(node: RuleNode): RuleNode[] {
  return [...(node.and ?? []), ...(node.or ?? []), ...(node.not ? [node.not] : [])];
}

/** Every group a rule names, at any depth (for header minimization and the deny page). */
export function groupsNamed(node: RuleNode, into = new Set<string>()): Set<string> {
  for (const g of node.groupsAny ?? []) into.add(g);
  for (const g of node.groupsAll ?? []) into.add(g);
  for (const child of childrenOf(node)) groupsNamed(child, into);
  return into;
}

/** True when a rule looks at the client address, at any depth. */
export function usesSourceIp(node: RuleNode): boolean {
  return node.sourceIp !== undefined || childrenOf(node).some(usesSourceIp);
}
