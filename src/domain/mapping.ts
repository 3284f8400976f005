/** Mapping rules: which metrics a request counts, with 3scale APIcast's matching semantics. Pure. */

/** One mapping rule as configured: `method` + `pattern` add `delta` to `metricId`; `last` stops matching. */
export interface MappingRuleDef {
  /** An HTTP method, compared exactly; `ANY` matches every method (as in APIcast). */
  readonly method: string;
  /** `/path/{var}/more$?param={v}&other=literal`; see compileMappingRules. */
  readonly pattern: string;
  readonly metricId: string;
  readonly delta: number;
  readonly last?: boolean;
}

/** A query parameter a rule requires: present with any value (`{var}`), or whose last value equals `value`. */
interface QueryCheck {
  readonly name: string;
  readonly anyValue: boolean;
  readonly value: string;
}

/** A rule after compilation: the path test is either a string comparison or one regex built here, once. */
interface CompiledRule {
  readonly index: number;
  readonly metricId: string;
  readonly delta: number;
  readonly last: boolean;
  readonly test: (path: string) => boolean;
  readonly query: readonly QueryCheck[];
}

/** A service's rules compiled once per config version; reuse it for every request. */
export interface CompiledRules {
  /** Rules per method, in configuration order, `ANY` rules merged in place. */
  readonly byMethod: ReadonlyMap<string, readonly CompiledRule[]>;
  /** The `ANY` rules alone: what a method named by no rule sees. */
  readonly anyMethod: readonly CompiledRule[];
  readonly size: number;
}

/** What a request counts. `usage` is null when no rule matched: the service's "no match" error, no counting. */
export interface UsageMatch {
  /** Metric id → summed deltas of every matching rule. */
  readonly usage: Map<string, number> | null;
  /** How many rules matched. */
  readonly matched: number;
  /** Indexes (into the configured array) of the rules that matched, in order. */
  readonly rules: readonly number[];
}

/** Request query: parsed params, or a plain record as node's querystring gives. */
export type QueryInput = URLSearchParams | Readonly<Record<string, string | readonly string[] | undefined>>;

export const ANY_METHOD = 'ANY';

// Path characters that stay literal in the canonical form: RFC 3986 unreserved, sub-delims, ':' '@' and '/'.
const SAFE_PATH = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const RESERVED_OR_UNRESERVED = /[A-Za-z0-9\-._~!$&'()*+,;=:@/]/;
const HEX2 = /^[0-9A-Fa-f]{2}$/;
// APIcast: a path variable is anything in braces; a query value is a variable if it contains `{word}`.
const PATH_VARIABLE = /\{[^{}]+\}/g;
const QUERY_VARIABLE = /\{[-\w]+\}/;
const REGEX_META = /[.*+?^${}()|[\]\\/-]/g;

/**
 * RFC 3986 §6.2.2 normalisation of a path (or a pattern's literal text): percent-escapes of unreserved
 * characters are decoded, remaining escapes upper-cased, characters that may not appear raw are escaped.
 * `%2F` stays encoded, so it never splits a segment. Both sides of a match go through this, so `/a%20b`,
 * `/a b` and `/a%7eb` vs `/a~b` compare equal, as APIcast's escape(unescape(uri)) makes them.
 */
export function canonicalPath(raw: string): string {
  if (SAFE_PATH.test(raw)) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === '%') {
      const hex = raw.slice(i + 1, i + 3);
      if (HEX2.test(hex)) {
        const decoded = String.fromCharCode(Number.parseInt(hex, 16));
        out += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`;
        i += 2;
      } else {
        out += '%25';
      }
    } else if (RESERVED_OR_UNRESERVED.test(ch)) {
      out += ch;
    } else {
      const cp = raw.codePointAt(i)!;
      const full = String.fromCodePoint(cp);
      i += full.length - 1;
      out += isLoneSurrogate(cp) ? '%EF%BF%BD' : encodeURIComponent(full);
    }
  }
  return out;
}

function isLoneSurrogate(cp: number): boolean {
  return cp >= 0xd800 && cp <= 0xdfff;
}

/**
 * The request path as rules see it, like nginx's `$uri` re-escaped by APIcast: query cut off, empty
 * path = `/`, canonical escapes, repeated slashes merged, `.` and `..` segments resolved (RFC 3986 §5.2.4).
 */
export function normalizeRequestPath(path: string): string {
  const q = path.indexOf('?');
  let p = q === -1 ? path : path.slice(0, q);
  if (p === '') return '/';
  if (p[0] !== '/') p = `/${p}`;
  p = canonicalPath(p);
  if (p.includes('//')) p = p.replace(/\/\/+/g, '/');
  if (p.includes('/.')) p = removeDotSegments(p);
  return p;
}

function removeDotSegments(p: string): string {
  const segments = p.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!;
    const isLast = i === segments.length - 1;
    if (seg === '.' || seg === '..') {
      if (seg === '..') out.pop();
      if (isLast) out.push('');
    } else {
      out.push(seg);
    }
  }
  return `/${out.join('/')}`;
}

/** Builds the path test of one pattern's path part. Everything but `{var}` and a final `$` is literal. */
function compilePath(pathPart: string): (path: string) => boolean {
  const anchored = pathPart.endsWith('$');
  let p = anchored ? pathPart.slice(0, -1) : pathPart;
  // APIcast merges repeated slashes in patterns because nginx merges them in the request path.
  p = p.replace(/\/\/+/g, '/');
  const literals = p.split(PATH_VARIABLE).map(canonicalPath);
  if (literals.length === 1) {
    const lit = literals[0]!;
    return anchored ? (path) => path === lit : (path) => path.startsWith(lit);
  }
  // A variable is one path segment: at least one character, never a '/'.
  const source = literals.map((l) => l.replace(REGEX_META, '\\$&')).join('[^/]+');
  const re = new RegExp(`^${source}${anchored ? '$' : ''}`);
  return (path) => re.test(path);
}

function compileQuery(queryPart: string): QueryCheck[] {
  if (queryPart === '') return [];
  // A name listed twice keeps its last value, as APIcast's querystring_parameters hash does.
  const byName = new Map<string, QueryCheck>();
  for (const [name, value] of new URLSearchParams(queryPart)) {
    if (name === '') continue;
    byName.set(name, { name, anyValue: QUERY_VARIABLE.test(value), value });
  }
  return [...byName.values()];
}

/**
 * Compiles rules once (per config version: the result is cached per array object). Pattern semantics,
 * following APIcast's mapping_rule.lua:
 * - the path part matches from the start of the path, as a prefix unless it ends with `$`;
 * - `{name}` matches one path segment (also inside a segment: `/v1/{id}.json`);
 * - every other character is literal (APIcast escapes only `.`; we escape all regex metacharacters);
 * - `?a={x}&b=lit` requires `a` present with any value and `b`'s last value equal to `lit`; other
 *   request params are allowed.
 * Throws on a pattern not starting with `/`: config validation refuses those, so meeting one is a fault.
 */
export function compileMappingRules(rules: readonly MappingRuleDef[]): CompiledRules {
  const cached = cache.get(rules);
  if (cached !== undefined) return cached;
  const compiled = rules.map((rule, index) => compileRule(rule, index));
  const methods = new Set(compiled.map((_, i) => rules[i]!.method).filter((m) => m !== ANY_METHOD));
  const byMethod = new Map<string, readonly CompiledRule[]>();
  for (const m of methods) {
    byMethod.set(
      m,
      compiled.filter((_, i) => rules[i]!.method === m || rules[i]!.method === ANY_METHOD),
    );
  }
  const anyMethod = compiled.filter((_, i) => rules[i]!.method === ANY_METHOD);
  const result: CompiledRules = Object.freeze({ byMethod, anyMethod, size: compiled.length });
  cache.set(rules, result);
  return result;
}

const cache = new WeakMap<readonly MappingRuleDef[], CompiledRules>();

function compileRule(rule: MappingRuleDef, index: number): CompiledRule {
  if (!rule.pattern.startsWith('/')) {
    throw new Error(`mapping rule ${index}: pattern must start with "/": ${JSON.stringify(rule.pattern)}`);
  }
  const q = rule.pattern.indexOf('?');
  const pathPart = q === -1 ? rule.pattern : rule.pattern.slice(0, q);
  const queryPart = q === -1 ? '' : rule.pattern.slice(q + 1);
  return {
    index,
    metricId: rule.metricId,
    delta: rule.delta,
    last: rule.last === true,
    test: compilePath(pathPart),
    query: compileQuery(queryPart),
  };
}

function queryValue(query: QueryInput, name: string): string | undefined {
  if (query instanceof URLSearchParams) {
    if (!query.has(name)) return undefined;
    const all = query.getAll(name);
    return all[all.length - 1];
  }
  if (!Object.hasOwn(query, name)) return undefined;
  const v = query[name];
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  return v.length === 0 ? undefined : v[v.length - 1];
}

function queryMatches(checks: readonly QueryCheck[], query: QueryInput): boolean {
  for (const c of checks) {
    // A repeated request param counts by its last value, as in APIcast.
    const v = queryValue(query, c.name);
    if (v === undefined) return false;
    if (!c.anyValue && v !== c.value) return false;
  }
  return true;
}

const NO_RULES: readonly number[] = Object.freeze([]);

/**
 * Runs `method path?query` through the rules in order: every match adds its delta to its metric; a
 * matching rule with `last` stops the walk. `path` is the raw request path (a `?…` tail is ignored).
 */
export function matchUsage(
  compiled: CompiledRules,
  method: string,
  path: string,
  query: QueryInput,
): UsageMatch {
  const candidates = compiled.byMethod.get(method) ?? compiled.anyMethod;
  if (candidates.length === 0) return { usage: null, matched: 0, rules: NO_RULES };
  const p = normalizeRequestPath(path);
  let usage: Map<string, number> | null = null;
  let matchedRules: number[] | null = null;
  for (const rule of candidates) {
    if (!rule.test(p)) continue;
    if (rule.query.length > 0 && !queryMatches(rule.query, query)) continue;
    usage ??= new Map();
    matchedRules ??= [];
    usage.set(rule.metricId, (usage.get(rule.metricId) ?? 0) + rule.delta);
    matchedRules.push(rule.index);
    if (rule.last) break;
  }
  return { usage, matched: matchedRules?.length ?? 0, rules: matchedRules ?? NO_RULES };
}
