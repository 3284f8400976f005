import { describe, expect, it } from 'vitest';
import {
  canonicalPath,
  compileMappingRules,
  type MappingRuleDef,
  matchUsage,
  normalizeRequestPath,
  type QueryInput,
} from './mapping.js';

function rule(method: string, pattern: string, metricId = 'm', delta = 1, last = false): MappingRuleDef {
  return { method, pattern, metricId, delta, last };
}

/** Usage as a plain object (or null), for readable assertions. */
function usageOf(
  rules: readonly MappingRuleDef[],
  method: string,
  path: string,
  query: QueryInput = new URLSearchParams(),
): Record<string, number> | null {
  const r = matchUsage(compileMappingRules(rules), method, path, query);
  return r.usage === null ? null : Object.fromEntries(r.usage);
}

function matches(pattern: string, path: string, query?: string, method = 'GET'): boolean {
  return usageOf([rule('GET', pattern)], method, path, new URLSearchParams(query ?? '')) !== null;
}

describe('path part', () => {
  it('is anchored at the start and matches as a prefix', () => {
    expect(matches('/items', '/items')).toBe(true);
    expect(matches('/items', '/items/42/parts')).toBe(true);
    expect(matches('/items', '/v1/items')).toBe(false);
  });

  it('is a raw string prefix, like APIcast: /foo matches /foobar', () => {
    expect(matches('/foo', '/foobar')).toBe(true);
    expect(matches('/foo$', '/foobar')).toBe(false);
  });

  it('trailing $ anchors the end', () => {
    expect(matches('/items$', '/items')).toBe(true);
    expect(matches('/items$', '/items/42')).toBe(false);
    expect(matches('/items$', '/items/')).toBe(false);
  });

  it('trailing slash: /items matches /items/, /items/ does not match /items', () => {
    expect(matches('/items', '/items/')).toBe(true);
    expect(matches('/items/', '/items')).toBe(false);
    expect(matches('/items/$', '/items/')).toBe(true);
  });

  it('$ with a query in the request: the query is not part of the path', () => {
    expect(matches('/items$', '/items', 'page=2')).toBe(true);
    expect(matches('/items$', '/items?page=2')).toBe(true);
  });

  it('/ matches everything, /$ only the root', () => {
    expect(matches('/', '/anything/at/all')).toBe(true);
    expect(matches('/$', '/')).toBe(true);
    expect(matches('/$', '/x')).toBe(false);
  });

  it('an empty request path is the root', () => {
    expect(matches('/$', '')).toBe(true);
    expect(matches('/a', '')).toBe(false);
  });

  it('{var} matches exactly one segment and never crosses /', () => {
    expect(matches('/items/{id}$', '/items/42')).toBe(true);
    expect(matches('/items/{id}$', '/items/42/parts')).toBe(false);
    expect(matches('/items/{id}', '/items/42/parts')).toBe(true);
    expect(matches('/items/{id}', '/items/')).toBe(false);
    expect(matches('/items/{id}/parts', '/items/a/b/parts')).toBe(false);
  });

  it('{var} inside a segment', () => {
    expect(matches('/v1/{id}.json', '/v1/abc.json')).toBe(true);
    expect(matches('/v1/{id}.json$', '/v1/abc.json.bak')).toBe(false);
    expect(matches('/v1/{id}.json', '/v1/abcxjson')).toBe(false);
    expect(matches('/v1/{a}-{b}$', '/v1/x-y')).toBe(true);
    expect(matches('/v1/{a}-{b}$', '/v1/xy')).toBe(false);
  });

  it('regex metacharacters are literal', () => {
    expect(matches('/a.b', '/a.b')).toBe(true);
    expect(matches('/a.b', '/axb')).toBe(false);
    expect(matches('/a+b$', '/a+b')).toBe(true);
    expect(matches('/a+b$', '/aab')).toBe(false);
    expect(matches('/f(x)*$', '/f(x)*')).toBe(true);
    expect(matches('/f(x)*$', '/fxxx')).toBe(false);
    expect(matches('/[ab]|c', '/a')).toBe(false);
    expect(matches('/[ab]|c', '/[ab]|c')).toBe(true);
    expect(matches('/{id}/a.b$', '/9/a.b')).toBe(true);
    expect(matches('/{id}/a.b$', '/9/axb')).toBe(false);
    expect(matches('/a\\d', '/a\\d')).toBe(true);
    expect(matches('/a\\d', '/a1')).toBe(false);
  });

  it('$ in the middle of a pattern is literal', () => {
    expect(matches('/price$usd', '/price$usd')).toBe(true);
    expect(matches('/price$usd', '/price')).toBe(false);
  });

  it('an unbalanced brace is literal', () => {
    expect(matches('/a{b', '/a{b')).toBe(true);
    expect(matches('/a{b', '/a%7Bb')).toBe(true);
    expect(matches('/a{b', '/ab')).toBe(false);
  });

  it('percent-encoding: escapes of unreserved characters equal the characters, case of hex ignored', () => {
    expect(matches('/caf~e$', '/caf%7Ee')).toBe(true);
    expect(matches('/a%20b$', '/a%20b')).toBe(true);
    expect(matches('/a%20b$', '/a b')).toBe(true);
    expect(matches('/a b$', '/a%20b')).toBe(true);
    expect(matches('/caf%C3%A9$', '/café')).toBe(true);
    expect(matches('/caf%c3%a9$', '/caf%C3%A9')).toBe(true);
    expect(matches('/%41bc$', '/Abc')).toBe(true);
  });

  it('an encoded slash is data: it stays inside one segment', () => {
    expect(matches('/files/{name}$', '/files/a%2Fb')).toBe(true);
    expect(matches('/files/a/b', '/files/a%2Fb')).toBe(false);
    expect(matches('/files/{name}$', '/files/a%2fb')).toBe(true);
  });

  it('repeated slashes are merged on both sides', () => {
    expect(matches('/a/b$', '/a//b')).toBe(true);
    expect(matches('/a//b$', '/a/b')).toBe(true);
  });

  it('dot segments are resolved before matching', () => {
    expect(matches('/admin$', '/public/../admin')).toBe(true);
    expect(matches('/public', '/public/../admin')).toBe(false);
    expect(matches('/a/b$', '/a/./b')).toBe(true);
    expect(matches('/a/$', '/a/b/..')).toBe(true);
  });
});

describe('query part', () => {
  it('a {var} param must be present with any value, extra params allowed', () => {
    expect(matches('/search?q={q}', '/search', 'q=shoes&page=2')).toBe(true);
    expect(matches('/search?q={q}', '/search', 'page=2')).toBe(false);
    expect(matches('/search?q={q}', '/search', 'q=')).toBe(true);
  });

  it('a literal param must equal the value', () => {
    expect(matches('/search?type=x', '/search', 'type=x')).toBe(true);
    expect(matches('/search?type=x', '/search', 'type=y')).toBe(false);
    expect(matches('/search?type=x', '/search', '')).toBe(false);
    expect(matches('/search?q={q}&type=x', '/search', 'type=x&q=1')).toBe(true);
    expect(matches('/search?q={q}&type=x', '/search', 'type=x')).toBe(false);
  });

  it('a repeated request param counts by its last value', () => {
    expect(matches('/s?type=x', '/s', 'type=y&type=x')).toBe(true);
    expect(matches('/s?type=x', '/s', 'type=x&type=y')).toBe(false);
  });

  it('values are compared decoded', () => {
    expect(matches('/s?name=a b', '/s', 'name=a%20b')).toBe(true);
    expect(matches('/s?name=a%20b', '/s', 'name=a+b')).toBe(true);
  });

  it('$ then a query: anchored path and required params', () => {
    expect(matches('/items$?page={p}', '/items', 'page=1')).toBe(true);
    expect(matches('/items$?page={p}', '/items/1', 'page=1')).toBe(false);
    expect(matches('/items$?page={p}', '/items', '')).toBe(false);
  });

  it('a value containing {word} is a variable, as in APIcast', () => {
    expect(matches('/s?id=v{n}', '/s', 'id=anything')).toBe(true);
  });

  it('a plain record works as the query, arrays by their last value', () => {
    const rules = [rule('GET', '/s?type=x&q={q}')];
    expect(usageOf(rules, 'GET', '/s', { type: 'x', q: '1' })).toEqual({ m: 1 });
    expect(usageOf(rules, 'GET', '/s', { type: ['y', 'x'], q: [] })).toBeNull();
    expect(usageOf(rules, 'GET', '/s', { type: ['x', 'y'], q: '1' })).toBeNull();
    expect(usageOf(rules, 'GET', '/s', { type: 'x', q: undefined })).toBeNull();
    expect(usageOf(rules, 'GET', '/s', { type: ['y', 'x'], q: ['a'] })).toEqual({ m: 1 });
  });

  it('does not read inherited properties of a record', () => {
    expect(usageOf([rule('GET', '/s?toString={x}')], 'GET', '/s', {})).toBeNull();
  });
});

describe('methods', () => {
  it('are compared exactly', () => {
    expect(matches('/a', '/a', '', 'POST')).toBe(false);
    expect(matches('/a', '/a', '', 'get')).toBe(false);
    expect(matches('/a', '/a', '', 'HEAD')).toBe(false);
  });

  it('ANY matches every method, in its place in the order', () => {
    const rules = [
      rule('ANY', '/a', 'any', 1),
      rule('POST', '/a', 'post', 2, true),
      rule('ANY', '/a', 'tail', 4),
    ];
    expect(usageOf(rules, 'DELETE', '/a')).toEqual({ any: 1, tail: 4 });
    expect(usageOf(rules, 'POST', '/a')).toEqual({ any: 1, post: 2 });
  });

  it('a request whose method no rule names matches nothing', () => {
    const r = matchUsage(compileMappingRules([rule('GET', '/')]), 'PUT', '/x', new URLSearchParams());
    expect(r).toEqual({ usage: null, matched: 0, rules: [] });
  });
});

describe('usage', () => {
  it('sums deltas per metric across all matching rules', () => {
    const rules = [
      rule('GET', '/', 'hits', 1),
      rule('GET', '/items', 'items', 2),
      rule('GET', '/items/{id}', 'items', 3),
      rule('GET', '/other', 'other', 5),
    ];
    const r = matchUsage(compileMappingRules(rules), 'GET', '/items/7', new URLSearchParams());
    expect(r.usage).toEqual(
      new Map([
        ['hits', 1],
        ['items', 5],
      ]),
    );
    expect(r.matched).toBe(3);
    expect(r.rules).toEqual([0, 1, 2]);
  });

  it('last stops after that rule only when it matched, in array order', () => {
    const rules = [
      rule('GET', '/items/{id}$', 'one', 1, true),
      rule('GET', '/items', 'list', 1, true),
      rule('GET', '/', 'root', 1),
    ];
    expect(usageOf(rules, 'GET', '/items/7')).toEqual({ one: 1 });
    expect(usageOf(rules, 'GET', '/items/7/x')).toEqual({ list: 1 });
    expect(usageOf(rules, 'GET', '/else')).toEqual({ root: 1 });
  });

  it('a last rule later in the array does not undo earlier matches', () => {
    const rules = [rule('GET', '/', 'root', 1), rule('GET', '/a', 'a', 1, true), rule('GET', '/a/b', 'b', 1)];
    expect(usageOf(rules, 'GET', '/a/b')).toEqual({ root: 1, a: 1 });
  });

  it('no match gives null usage', () => {
    expect(usageOf([rule('GET', '/items$')], 'GET', '/items/1')).toBeNull();
    expect(usageOf([], 'GET', '/')).toBeNull();
  });
});

describe('compilation', () => {
  it('is cached per rules array, so a config version compiles once', () => {
    const rules = [rule('GET', '/a')];
    expect(compileMappingRules(rules)).toBe(compileMappingRules(rules));
    expect(compileMappingRules([...rules])).not.toBe(compileMappingRules(rules));
  });

  it('refuses a pattern that does not start with /', () => {
    expect(() => compileMappingRules([rule('GET', 'items')])).toThrow(/must start with/);
  });
});

describe('normalisation helpers', () => {
  it('canonicalPath', () => {
    expect(canonicalPath('/plain/path-1_~.x')).toBe('/plain/path-1_~.x');
    expect(canonicalPath('/a%7e%2f%zz')).toBe('/a~%2F%25zz');
    expect(canonicalPath('/"<>')).toBe('/%22%3C%3E');
    expect(canonicalPath('/\uD800')).toBe('/%EF%BF%BD');
  });

  it('normalizeRequestPath', () => {
    expect(normalizeRequestPath('')).toBe('/');
    expect(normalizeRequestPath('a/b')).toBe('/a/b');
    expect(normalizeRequestPath('/a//b/../c?x=1')).toBe('/a/c');
    expect(normalizeRequestPath('/..')).toBe('/');
    expect(normalizeRequestPath('/a/%2E%2E/b')).toBe('/b');
  });
});
