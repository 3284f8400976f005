/**
 * Rack-style parameter parsing (query strings and urlencoded bodies): `a[b][c]=1`, `a[]=1`, `a[][b]=1`,
 * `+` as space, %-decoding to bytes then UTF-8. Mirrors Rack's nested-query rules, including its
 * conflicts (`usage[]=1&usage[hits]=1` is a type error). Input strings carry one byte per char (latin1),
 * which is how node:http hands over URLs and how bodies are read here.
 */

/** A parsed parameter value: a string, a list (`a[]`) or a nested map (`a[b]`). */
export type ParamValue = string | ParamValue[] | ParamMap;
/** A parameter map; built with a null prototype, so keys like `__proto__` are plain keys. */
export interface ParamMap {
  [key: string]: ParamValue | undefined;
}

/** Limits on a parameter string (Rack defaults: 4096 params, 4 MiB, depth 32). */
export interface ParamLimits {
  readonly maxParams: number;
  readonly maxBytes: number;
  readonly maxDepth: number;
}

export const DEFAULT_PARAM_LIMITS: ParamLimits = Object.freeze({
  maxParams: 4096,
  maxBytes: 4 * 1024 * 1024,
  maxDepth: 32,
});

/** Why a parameter string was refused: always 400 bad_request with this message. */
export type ParamFault = 'syntax' | 'encoding' | 'count' | 'size';

export type ParseResult =
  | { readonly ok: true; readonly params: ParamMap; readonly invalidUtf8: boolean }
  | { readonly ok: false; readonly fault: ParamFault; readonly count: number };

// Maps are instances of a constructor whose prototype has no prototype: no inherited keys (`constructor`,
// `__proto__` are plain keys), yet V8 keeps them as fast objects — `Object.create(null)` objects start in
// slow dictionary mode, and stores into them were the parser's main cost.
function ParamsObject(): void {}
ParamsObject.prototype = Object.create(null);
const Params = ParamsObject as unknown as new () => ParamMap;

/** A fresh empty map that inherits nothing. */
export function emptyParams(): ParamMap {
  return new Params();
}

// Parser faults unwind the recursion by throwing one of these preallocated sentinels: no Error object
// (and no stack capture) per bad request.
const TYPE_CONFLICT = { fault: 'syntax' } as const;
const DEPTH_EXCEEDED = { fault: 'syntax' } as const;
const BAD_ENCODING = { fault: 'encoding' } as const;
type Sentinel = typeof TYPE_CONFLICT | typeof BAD_ENCODING;
const isSentinel = (e: unknown): e is Sentinel =>
  e === TYPE_CONFLICT || e === DEPTH_EXCEEDED || e === BAD_ENCODING;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Lossy = new TextDecoder('utf-8', { ignoreBOM: true });

/** Parses `qs` (one byte per char). Never throws for any input. */
export function parseParams(qs: string, limits: ParamLimits = DEFAULT_PARAM_LIMITS): ParseResult {
  const params = emptyParams();
  if (qs.length === 0) return { ok: true, params, invalidUtf8: false };
  if (qs.length > limits.maxBytes) return { ok: false, fault: 'size', count: qs.length };
  const state = { invalid: false };
  let count = 0;
  let pos = 0;
  try {
    while (pos <= qs.length) {
      let end = qs.indexOf('&', pos);
      if (end < 0) end = qs.length;
      if (end > pos) {
        if (++count > limits.maxParams) {
          return { ok: false, fault: 'count', count: countParts(qs) };
        }
        const eq = qs.indexOf('=', pos);
        let rawKey: string;
        let rawValue: string;
        if (eq < 0 || eq > end) {
          rawKey = qs.slice(pos, end);
          rawValue = '';
        } else {
          rawKey = qs.slice(pos, eq);
          rawValue = qs.slice(eq + 1, end);
        }
        const key = decodeComponent(rawKey, state);
        const value = decodeComponent(rawValue, state);
        insert(params, key, value, limits.maxDepth);
      }
      pos = end + 1;
    }
  } catch (err) {
    if (isSentinel(err)) return { ok: false, fault: err.fault, count };
    throw err;
  }
  return { ok: true, params, invalidUtf8: state.invalid };
}

function countParts(qs: string): number {
  let n = 0;
  let pos = 0;
  while (pos <= qs.length) {
    let end = qs.indexOf('&', pos);
    if (end < 0) end = qs.length;
    if (end > pos) n++;
    pos = end + 1;
  }
  return n;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * The common case (`usage%5Bhits%5D`): every escape is an ASCII byte, so the text is the bytes as they
 * are, with no UTF-8 decoding. Returns null when a byte ≥ 0x80 appears (or an escape is malformed, which
 * the full decoder then reports).
 */
function decodeAscii(s: string): string | null {
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37) {
      const hi = i + 1 < s.length ? hexVal(s.charCodeAt(i + 1)) : -1;
      const lo = i + 2 < s.length ? hexVal(s.charCodeAt(i + 2)) : -1;
      if (hi < 0 || lo < 0 || hi >= 8) return null;
      out += s.slice(from, i) + String.fromCharCode(hi * 16 + lo);
      i += 2;
      from = i + 1;
    } else if (c === 43) {
      out += `${s.slice(from, i)} `;
      from = i + 1;
    } else if (c >= 0x80) {
      return null;
    }
  }
  return out + s.slice(from);
}

/** %-decodes (and `+` → space) one component to bytes, then to UTF-8 text; flags invalid UTF-8. */
function decodeComponent(s: string, state: { invalid: boolean }): string {
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 || c === 43 || c >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) return s;
  const ascii = decodeAscii(s);
  if (ascii !== null) return ascii;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37) {
      const hi = i + 1 < s.length ? hexVal(s.charCodeAt(i + 1)) : -1;
      const lo = i + 2 < s.length ? hexVal(s.charCodeAt(i + 2)) : -1;
      if (hi < 0 || lo < 0) throw BAD_ENCODING;
      bytes.push(hi * 16 + lo);
      i += 2;
    } else if (c === 43) {
      bytes.push(32);
    } else if (c < 0x100) {
      bytes.push(c);
    } else {
      // Not produced by node:http; encode defensively as UTF-8.
      for (const b of Buffer.from(String.fromCharCode(c), 'utf8')) bytes.push(b);
    }
  }
  const buf = Uint8Array.from(bytes);
  try {
    return utf8.decode(buf);
  } catch {
    state.invalid = true;
    return utf8Lossy.decode(buf);
  }
}

function isMap(v: ParamValue | undefined): v is ParamMap {
  return v !== undefined && typeof v === 'object' && !Array.isArray(v);
}

/** Splits `name` Rack-style: leading brackets skipped, first bracket-free run is the key. */
function splitName(name: string): { k: string; after: string } {
  let i = 0;
  while (i < name.length && (name[i] === '[' || name[i] === ']')) i++;
  const start = i;
  while (i < name.length && name[i] !== '[' && name[i] !== ']') i++;
  const k = name.slice(start, i);
  while (i < name.length && name[i] === ']') i++;
  return { k, after: name.slice(i) };
}

/**
 * normalize() with shortcuts for the two shapes nearly every request has, `name` and `name[child]`
 * (no other bracket): the same result without the recursive walk. Anything else goes to normalize().
 */
function insert(params: ParamMap, name: string, v: string, depth: number): void {
  const open = name.indexOf('[');
  if (open < 0) {
    if (depth >= 1 && name !== '' && name.indexOf(']') < 0) {
      params[name] = v;
      return;
    }
  } else if (
    depth >= 2 &&
    open > 0 &&
    name.charCodeAt(name.length - 1) === 93 &&
    open + 2 < name.length &&
    name.indexOf('[', open + 1) < 0 &&
    name.indexOf(']') === name.length - 1
  ) {
    const k = name.slice(0, open);
    const cur = params[k];
    if (cur === undefined) {
      const m = emptyParams();
      m[name.slice(open + 1, -1)] = v;
      params[k] = m;
      return;
    }
    if (isMap(cur)) {
      cur[name.slice(open + 1, -1)] = v;
      return;
    }
  }
  normalize(params, name, v, depth);
}

/** Inserts one decoded pair following Rack's normalize_params rules. */
function normalize(params: ParamMap, name: string, v: string, depth: number): ParamValue | undefined {
  if (depth <= 0) throw DEPTH_EXCEEDED;
  const { k, after } = splitName(name);
  if (k === '') return name === '[]' ? [v] : undefined;
  if (after === '') {
    params[k] = v;
  } else if (after === '[') {
    params[name] = v;
  } else if (after === '[]') {
    const cur = params[k] ?? [];
    if (!Array.isArray(cur)) throw TYPE_CONFLICT;
    cur.push(v);
    params[k] = cur;
  } else if (after.startsWith('[]')) {
    // `[][child]…` or `[]child`: append to (or fill) the last hash of the list.
    const m = after.length > 4 && after[2] === '[' && after.endsWith(']') ? after.slice(3, -1) : null;
    const child = m !== null && !m.includes('[') && !m.includes(']') ? m : after.slice(2);
    const cur = params[k] ?? [];
    if (!Array.isArray(cur)) throw TYPE_CONFLICT;
    params[k] = cur;
    const last = cur[cur.length - 1];
    if (isMap(last) && !hasNested(last, child)) {
      normalize(last, child, v, depth - 1);
    } else {
      const fresh = emptyParams();
      normalize(fresh, child, v, depth - 1);
      cur.push(fresh);
    }
  } else {
    const cur = params[k] ?? emptyParams();
    if (!isMap(cur)) throw TYPE_CONFLICT;
    params[k] = cur;
    normalize(cur, after, v, depth - 1);
  }
  return params;
}

const BRACKETS = /[[\]]+/;

/** Rack's params_hash_has_key?: does `key` (maybe `a[b]`) already resolve inside `h`? */
function hasNested(h: ParamMap, key: string): boolean {
  if (key.includes('[]')) return false;
  const parts = key.split(BRACKETS).filter((p) => p !== '');
  let cur: ParamValue | undefined = h;
  for (const p of parts) {
    if (!isMap(cur) || !(p in cur)) return false;
    cur = cur[p];
  }
  return true;
}

/** The string at `key`, or undefined when absent or not a string. */
export function str(p: ParamMap, key: string): string | undefined {
  const v = p[key];
  return typeof v === 'string' ? v : undefined;
}

/** Adds one already-decoded pair with Rack's nesting rules; false on a shape conflict or too deep. */
export function addParam(
  params: ParamMap,
  key: string,
  value: string,
  maxDepth = DEFAULT_PARAM_LIMITS.maxDepth,
): boolean {
  try {
    normalize(params, key, value, maxDepth);
    return true;
  } catch (err) {
    if (err === TYPE_CONFLICT || err === DEPTH_EXCEEDED) return false;
    throw err;
  }
}

const DISPOSITION_NAME = /;\s*name="([^"]*)"/i;

/**
 * Parses a multipart/form-data body (fields only; a file part's content is taken as its value). Part
 * names and values are UTF-8; an invalid byte sequence is flagged like in urlencoded input.
 */
export function parseMultipart(
  body: Buffer,
  boundary: string,
  limits: ParamLimits = DEFAULT_PARAM_LIMITS,
): ParseResult {
  const params = emptyParams();
  const state = { invalid: false };
  const delim = Buffer.from(`--${boundary}`, 'latin1');
  let pos = body.indexOf(delim);
  let count = 0;
  if (pos < 0) return { ok: false, fault: 'syntax', count: 0 };
  while (pos >= 0) {
    let start = pos + delim.length;
    if (body[start] === 45 && body[start + 1] === 45) break; // closing `--boundary--`
    if (body[start] === 13 && body[start + 1] === 10) start += 2;
    const headEnd = body.indexOf('\r\n\r\n', start, 'latin1');
    const next = body.indexOf(delim, start);
    if (headEnd < 0 || next < 0 || headEnd > next) return { ok: false, fault: 'syntax', count };
    if (++count > limits.maxParams) return { ok: false, fault: 'count', count };
    const head = body.toString('latin1', start, headEnd);
    const m = DISPOSITION_NAME.exec(head);
    let end = next;
    if (body[end - 2] === 13 && body[end - 1] === 10) end -= 2;
    if (m !== null) {
      const name = decodeBytes(Buffer.from(m[1]!, 'latin1'), state);
      const value = decodeBytes(body.subarray(headEnd + 4, end), state);
      if (!addParam(params, name, value, limits.maxDepth)) return { ok: false, fault: 'syntax', count };
    }
    pos = next;
  }
  return { ok: true, params, invalidUtf8: state.invalid };
}

function decodeBytes(buf: Uint8Array, state: { invalid: boolean }): string {
  try {
    return utf8.decode(buf);
  } catch {
    state.invalid = true;
    return utf8Lossy.decode(buf);
  }
}
