/** Exact response bodies of the Service Management API (3scale §3): status and error XML, no whitespace. */
import type { UsageReport } from '../domain/limits.js';
import { formatXmlTime } from '../domain/periods.js';

export const XML_PROLOG = '<?xml version="1.0" encoding="UTF-8"?>';
const TEXT_SPECIAL = /[&<>]/;
const TEXT_ALL = /[&<>]/g;
const ATTR_SPECIAL = /[&<>"']/;
const ATTR_ALL = /[&<>"']/g;
const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};
const entity = (c: string): string => ENTITIES[c]!;

/** Escapes element text: `& < >` only (quotes stay literal, as 3scale does). */
export function escapeText(s: string): string {
  return TEXT_SPECIAL.test(s) ? s.replace(TEXT_ALL, entity) : s;
}

/** Escapes an attribute value fully. */
export function escapeAttr(s: string): string {
  return ATTR_SPECIAL.test(s) ? s.replace(ATTR_ALL, entity) : s;
}

/** `<error code="…">message</error>` with the prolog. */
export function errorXml(code: string, message: string): string {
  return `${XML_PROLOG}<error code="${escapeAttr(code)}">${escapeText(message)}</error>`;
}

/** The oauth_* `<application>` section; `field` is `redirect_uri` when the request used that name. */
export interface OauthSection {
  readonly appId: string;
  readonly key: string;
  readonly redirectUrl: string;
  readonly field: 'redirect_url' | 'redirect_uri';
}

/** Everything a status body shows. */
export interface StatusBody {
  readonly authorized: boolean;
  readonly reason: string | null;
  readonly oauth: OauthSection | null;
  readonly planName: string;
  readonly reports: readonly UsageReport[];
  /** list_app_keys extension (keys already capped). */
  readonly appKeys: {
    readonly appId: string;
    readonly serviceId: string;
    readonly keys: readonly string[];
  } | null;
  /** hierarchy extension: metric name → direct children names joined by a space. */
  readonly hierarchy: ReadonlyMap<string, string> | null;
}

/** The max number of keys the list_app_keys extension shows. */
export const LIST_APP_KEYS_MAX = 256;

/** The `<status>` body of 200 and 409 answers. */
export function statusXml(b: StatusBody): string {
  let x = b.authorized
    ? `${XML_PROLOG}<status><authorized>true</authorized>`
    : `${XML_PROLOG}<status><authorized>false</authorized><reason>${escapeText(b.reason ?? '')}</reason>`;
  if (b.oauth !== null) {
    const o = b.oauth;
    x += `<application><id>${escapeText(o.appId)}</id><key>${escapeText(o.key)}</key><${o.field}>${escapeText(
      o.redirectUrl,
    )}</${o.field}></application>`;
  }
  x += `<plan>${escapeText(b.planName)}</plan>`;
  if (b.reports.length > 0) {
    x += '<usage_reports>';
    for (const r of b.reports) {
      x += `<usage_report metric="${escapeAttr(r.metricName)}" period="${r.period}"${r.exceeded ? ' exceeded="true"' : ''}>`;
      if (r.period !== 'eternity') {
        x += `<period_start>${formatXmlTime(r.start)}</period_start><period_end>${formatXmlTime(r.end)}</period_end>`;
      }
      x += `<max_value>${r.max}</max_value><current_value>${r.current}</current_value></usage_report>`;
    }
    x += '</usage_reports>';
  }
  if (b.appKeys !== null) {
    x += `<app_keys app="${escapeAttr(b.appKeys.appId)}" svc="${escapeAttr(b.appKeys.serviceId)}">`;
    const keys = b.appKeys.keys;
    const n = Math.min(keys.length, LIST_APP_KEYS_MAX);
    for (let i = 0; i < n; i++) x += `<key id="${escapeAttr(keys[i]!)}"/>`;
    x += '</app_keys>';
  }
  if (b.hierarchy !== null) {
    x += '<hierarchy>';
    for (const r of b.reports) {
      x += `<metric name="${escapeAttr(r.metricName)}" children="${escapeAttr(b.hierarchy.get(r.metricName) ?? '')}"/>`;
    }
    x += '</hierarchy>';
  }
  return `${x}</status>`;
}
