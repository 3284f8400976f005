/** Small HTTP helpers for integration tests (undici against real sockets). */
import { request } from 'undici';

export async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

/** The current_value of the first usage_report for `metric`/`period` in a 3scale status body. */
export function currentValue(xml: string, metric: string, period: string): number {
  const re = new RegExp(
    `<usage_report metric="${metric}" period="${period}"[^>]*>.*?<current_value>(\\d+)</current_value>`,
  );
  const m = re.exec(xml);
  if (!m) throw new Error(`no usage_report for ${metric}/${period} in ${xml}`);
  return Number(m[1]);
}
